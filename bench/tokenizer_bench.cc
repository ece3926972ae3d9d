// Tokenizer speed: encode ~1 MB of English (the workload of tests/data/tokenizer/README.md,
// where Hugging Face's Rust tokenizers does 295k tokens/s), inputs that would expose a
// quadratic merge loop, decode, and loading tokenizer.json.
//   scripts/fetch-tokenizer.sh && build/bench/tokenizer_bench
#include <benchmark/benchmark.h>

#include <malloc.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_cache.h"

namespace {

std::string TokenizerJsonPath() {
  if (const char* path = std::getenv("GEMMA_TOKENIZER_JSON"); path && *path) return path;
  return gemma::GemmaRtCacheRoot() + "/tokenizer/gemma/tokenizer.json";
}

const gemma::Tokenizer& Gemma() {
  static const std::unique_ptr<gemma::Tokenizer> tokenizer = [] {
    try {
      return gemma::Tokenizer::FromFile(TokenizerJsonPath());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\nRun scripts/fetch-tokenizer.sh first.\n", e.what());
      std::exit(1);
    }
  }();
  return *tokenizer;
}

// The longest text of the golden file (20,178 bytes of Frankenstein) repeated 50 times:
// 1,008,900 bytes, one string, as in the README's comparison.
const std::string& EnglishMegabyte() {
  static const std::string text = [] {
    std::ifstream in(std::string(GEMMA_TEST_DATA_DIR) + "/tokenizer/gemma_tokenizer_public.jsonl");
    std::string line, longest;
    while (std::getline(in, line)) {
      std::string t = nlohmann::json::parse(line).at("text").get<std::string>();
      if (t.size() > longest.size()) longest = std::move(t);
    }
    std::string out;
    for (int i = 0; i < 50; ++i) out += longest;
    return out;
  }();
  return text;
}

// The same megabyte with every space, newline and tab removed: one BPE word of ~830 KB.
const std::string& MegabyteWithoutSpaces() {
  static const std::string text = [] {
    std::string out;
    for (const char c : EnglishMegabyte()) {
      if (c != ' ' && c != '\n' && c != '\t' && c != '\r') out.push_back(c);
    }
    while (out.size() < EnglishMegabyte().size())
      out += out.substr(0, EnglishMegabyte().size() - out.size());
    return out;
  }();
  return text;
}

void Encode(benchmark::State& state, const std::string& text) {
  const gemma::Tokenizer& tokenizer = Gemma();
  size_t tokens = 0;
  for (auto _ : state) {
    const std::vector<int32_t> ids = tokenizer.Encode(text, /*add_bos=*/false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(tokens) * state.iterations(),
                                                  benchmark::Counter::kIsRate);
  state.counters["MB/s"] = benchmark::Counter(
      static_cast<double>(text.size()) * state.iterations() / 1e6, benchmark::Counter::kIsRate);
}

void BM_EncodeEnglish1MB(benchmark::State& state) { Encode(state, EnglishMegabyte()); }
void BM_EncodeNoSpaces1MB(benchmark::State& state) { Encode(state, MegabyteWithoutSpaces()); }
void BM_EncodeOneCharacter100KB(benchmark::State& state) {
  static const std::string text(100'000, 'a');
  Encode(state, text);
}
void BM_EncodeOneCharacter1MB(benchmark::State& state) {
  static const std::string text(1'000'000, 'a');
  Encode(state, text);
}
void BM_EncodeSpaces100KB(benchmark::State& state) {
  static const std::string text(100'000, ' ');
  Encode(state, text);
}

void BM_DecodeEnglish1MB(benchmark::State& state) {
  const gemma::Tokenizer& tokenizer = Gemma();
  const std::vector<int32_t> ids = tokenizer.Encode(EnglishMegabyte(), false);
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.Decode(ids).size());
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(ids.size()) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_StreamingDecodeEnglish1MB(benchmark::State& state) {
  const gemma::Tokenizer& tokenizer = Gemma();
  const std::vector<int32_t> ids = tokenizer.Encode(EnglishMegabyte(), false);
  for (auto _ : state) {
    gemma::StreamingDecoder decoder(tokenizer);
    size_t bytes = 0;
    for (const int32_t id : ids) bytes += decoder.Push(id).size();
    benchmark::DoNotOptimize(bytes + decoder.Flush().size());
  }
  state.counters["tokens/s"] = benchmark::Counter(
      static_cast<double>(ids.size()) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_LoadTokenizerJson(benchmark::State& state) {
  const std::string path = TokenizerJsonPath();
  for (auto _ : state) benchmark::DoNotOptimize(gemma::Tokenizer::FromFile(path).get());
}

// The same without the binary cache: simdjson parsing of the 17.5 MB JSON every time.
void BM_LoadTokenizerJsonWithoutCache(benchmark::State& state) {
  const std::string path = TokenizerJsonPath();
  for (auto _ : state) {
    gemma::BpeTokenizer tokenizer(gemma::LoadTokenizerJsonCached(path, {.use_cache = false}));
    benchmark::DoNotOptimize(tokenizer.vocab_size());
  }
}

BENCHMARK(BM_EncodeEnglish1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeNoSpaces1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeOneCharacter100KB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeOneCharacter1MB)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_EncodeSpaces100KB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_DecodeEnglish1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamingDecodeEnglish1MB)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadTokenizerJson)->Unit(benchmark::kMillisecond)->MinTime(3.0);
BENCHMARK(BM_LoadTokenizerJsonWithoutCache)->Unit(benchmark::kMillisecond)->MinTime(3.0);

// Resident kB of this process: "VmRSS" (now) or "VmHWM" (the peak so far).
long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
  }
  return -1;
}

long HeapInUseKb() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<long>((info.uordblks + info.hblkhd) / 1024);
}

int MeasureMemory() {
  const std::string path = TokenizerJsonPath();
  const long heap_before = HeapInUseKb();
  const long rss_before = StatusKb("VmRSS");
  const auto start = std::chrono::steady_clock::now();
  const std::unique_ptr<gemma::Tokenizer> tokenizer = gemma::Tokenizer::FromFile(path);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long rss_after = StatusKb("VmRSS");
  const long peak = StatusKb("VmHWM");
  const long heap_after = HeapInUseKb();
  std::printf(
      "%s: %d pieces, load %.1f ms, steady +%ld kB (VmRSS %ld -> %ld), peak +%ld kB, "
      "allocated +%ld kB\n",
      path.c_str(), tokenizer->vocab_size(), seconds * 1e3, rss_after - rss_before, rss_before,
      rss_after, peak - rss_before, heap_after - heap_before);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--memory") == 0) return MeasureMemory();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
