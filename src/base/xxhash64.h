// XXH64, Yann Collet's 64-bit non-cryptographic hash (the published algorithm, written out
// here: about 10 GB/s, so hashing Gemma's 17.5 MB tokenizer.json costs ~2 ms). Used to key
// caches by content; it detects changes, it does not resist an attacker crafting collisions.
#pragma once

#include <cstdint>
#include <string_view>

namespace gemma {

uint64_t XxHash64(std::string_view bytes, uint64_t seed = 0);

}  // namespace gemma
