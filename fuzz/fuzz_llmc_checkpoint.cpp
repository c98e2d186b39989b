// fuzz/fuzz_llmc_checkpoint.cpp — llm.c's GPT-2 checkpoint reader (gpt2_124M.bin's layout): the
// header's config, the tensor sizes it implies, the file's length.
#include "fuzz/fuzz_util.h"
#include "runtime/formats/llmc_checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = gptc::fuzz::writeScratch(
      "model.bin", std::string_view(reinterpret_cast<const char*>(data), size));
  gptc::IoResult<gptc::Gpt2Config> h = gptc::readLlmcHeader(path);
  gptc::IoResult<gptc::Gpt2Weights> w = gptc::readLlmcCheckpoint(path);
  if (w && !h) gptc::fuzz::fuzzFail("the checkpoint reads but its header does not");
  if (w)
    if (gptc::IoStatus st = gptc::checkGpt2Weights(path, *w); !st)
      gptc::fuzz::fuzzFail("read weights fail their own check: " + st.error());
  return 0;
}
