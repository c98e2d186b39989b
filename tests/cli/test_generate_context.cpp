// `gptc run --generate` sizes the KV cache to the request (tools/cmd_generate.cpp: the longest
// prompt plus -n, rounded up to 64 positions, at most the model's context), because the decode
// step's scores read every cache row. The cache's size must not change what is sampled: a tiny
// random GPT-2 (1 layer, C 32) with a fixed seed samples the same first tokens with a 64-row cache
// (-n 8) as with a 320-row one (-n 300). The built binary; about 4 CPU seconds.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_generate_context_test_");
  return d;
}

Run gptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

} // namespace

TEST_CASE("--generate sizes the KV cache to the prompt plus -n; the sampled tokens do not change") {
  const std::string args = "run models/gpt2.graph --generate --set L=1 C=32 NH=2 --prompt-ids "
                           "464 --temperature 1 --seed 3 --threads 2 --stats -n ";
  Run few = gptc(args + "8");
  REQUIRE_MESSAGE(few.code == 0, few.err);
  Run many = gptc(args + "300");
  REQUIRE_MESSAGE(many.code == 0, many.err);
  CHECK_MESSAGE(few.err.find("context 64,") != std::string::npos, few.err);    // 1 + 8 -> 64
  CHECK_MESSAGE(many.err.find("context 320,") != std::string::npos, many.err); // 1 + 300 -> 320
  std::string prefix = few.out;
  while (!prefix.empty() && (prefix.back() == '\n' || prefix.back() == ' '))
    prefix.pop_back();
  REQUIRE(prefix.size() > 20); // the prompt id and 8 sampled ids
  CHECK_MESSAGE(many.out.rfind(prefix, 0) == 0, few.out << " vs " << many.out.substr(0, 200));
}

TEST_CASE("a sized cache never grows past a rotary model's trained length") {
  // llama has no position table: its T (256) bounds the context, and a request past it is still
  // the usual error, not a longer cache.
  const std::string args =
      "run models/llama.graph --generate --set L=1 C=32 NH=2 --prompt-ids 1 --greedy --stats -n ";
  Run over = gptc(args + "300");
  CHECK(over.code == 2);
  CHECK_MESSAGE(over.err.find("the model's context is 256") != std::string::npos, over.err);
  Run fits = gptc(args + "4");
  REQUIRE_MESSAGE(fits.code == 0, fits.err);
  CHECK_MESSAGE(fits.err.find("context 64,") != std::string::npos, fits.err);
}

TEST_CASE("--prompt-ids takes commas as well as spaces") {
  // The issue's own spelling, "464,3616,286": once read as the single token 464 (std::stoi).
  const std::string args =
      "run models/gpt2.graph --generate --set L=1 C=32 NH=2 --greedy --threads 1 -n 3 --prompt-ids ";
  Run commas = gptc(args + "464,3616,286");
  REQUIRE_MESSAGE(commas.code == 0, commas.err);
  Run spaces = gptc(args + "'464 3616 286'");
  REQUIRE_MESSAGE(spaces.code == 0, spaces.err);
  Run one = gptc(args + "464");
  REQUIRE_MESSAGE(one.code == 0, one.err);
  CHECK(commas.out == spaces.out);
  CHECK(commas.out.rfind("464 3616 286", 0) == 0); // the prompt is echoed as ids
  CHECK(commas.out != one.out);
}
