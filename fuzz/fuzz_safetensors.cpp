// fuzz/fuzz_safetensors.cpp — the safetensors reader: the 8-byte header length, the header JSON
// (dtypes, shapes, data_offsets), the tensors' bounds, and the GPT-2 import on top.
#include "fuzz/fuzz_util.h"
#include "runtime/formats/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = gptc::fuzz::writeScratch(
      "model.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
  gptc::IoResult<gptc::SafetensorsIndex> index = gptc::readSafetensorsIndex(path);
  gptc::IoResult<std::vector<gptc::NamedTensor>> all = gptc::readSafetensors(path);
  if (all && !index) gptc::fuzz::fuzzFail("tensors read but the index does not");
  if (all) {
    for (const gptc::NamedTensor& t : *all)
      if (gptc::checkedNumel(t.shape) != int64_t(t.data.size()))
        gptc::fuzz::fuzzFail("tensor " + t.name + " has the wrong element count");
    (void)gptc::gpt2FromHuggingFace(*all, 1);
  }
  return 0;
}
