// tests/fuzz_replay/test_fuzz_replay.cpp — every input of tests/fuzz/<target>/ (the seeds and each
// crash the fuzzers found, once fixed) through its libFuzzer target's body, in the normal g++
// build: the fuzzers need clang (scripts/fuzz.sh), but their regression inputs run in every CI
// suite under ASan + UBSan. A broken invariant aborts, which fails this test binary.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

// Each target's entry point under its own name, so all of them link into one binary.
#define LLVMFuzzerTestOneInput fuzzGraph
#include "fuzz/fuzz_graph.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzLlmcCheckpoint
#include "fuzz/fuzz_llmc_checkpoint.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzGptcCheckpoint
#include "fuzz/fuzz_gptc_checkpoint.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzSafetensors
#include "fuzz/fuzz_safetensors.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzTokenShard
#include "fuzz/fuzz_token_shard.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzBpe
#include "fuzz/fuzz_bpe.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzCharVocab
#include "fuzz/fuzz_char_vocab.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzzObjectCache
#include "fuzz/fuzz_object_cache.cpp"
#undef LLVMFuzzerTestOneInput

namespace {

int replay(const char* target, int (*fn)(const uint8_t*, size_t)) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(GPTC_SOURCE_DIR) / "tests" / "fuzz" / target;
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string bytes = ss.str();
    INFO(e.path().string());
    fn(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ++n;
  }
  return n;
}

} // namespace

TEST_CASE("fuzz corpora replay: every seed and regression input of every target") {
  struct Target {
    const char* name;
    int (*fn)(const uint8_t*, size_t);
  } targets[] = {{"graph", fuzzGraph},
                 {"llmc_checkpoint", fuzzLlmcCheckpoint},
                 {"gptc_checkpoint", fuzzGptcCheckpoint},
                 {"safetensors", fuzzSafetensors},
                 {"token_shard", fuzzTokenShard},
                 {"bpe", fuzzBpe},
                 {"char_vocab", fuzzCharVocab},
                 {"object_cache", fuzzObjectCache}};
  for (const Target& t : targets) {
    CAPTURE(t.name);
    CHECK(replay(t.name, t.fn) > 0);
  }
  std::error_code ec;
  std::filesystem::remove_all(gptc::fuzz::scratchDir(), ec);
}
