// fuzz/fuzz_token_shard.cpp — llm.c token shards (a 256-int32 header, then uint16 tokens), raw
// token files and the data loader's saved state.
#include "fuzz/fuzz_util.h"
#include "runtime/text/token_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = gptc::fuzz::writeScratch(
      "tokens.bin", std::string_view(reinterpret_cast<const char*>(data), size));
  gptc::IoResult<gptc::LlmcTokensHeader> h = gptc::readLlmcTokensHeader(path);
  gptc::IoResult<std::vector<uint16_t>> t = gptc::readLlmcTokens(path, 50257);
  if (t && !h) gptc::fuzz::fuzzFail("tokens read but the header does not");
  if (t)
    for (uint16_t id : *t)
      if (id >= 50257) gptc::fuzz::fuzzFail("a token beyond the vocabulary was accepted");
  (void)gptc::readRawTokens(path, 300);
  (void)gptc::loadLoaderState(path);
  return 0;
}
