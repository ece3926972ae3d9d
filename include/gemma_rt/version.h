#pragma once

namespace gemma {

const char* VersionString();

}  // namespace gemma
