// fuzz/fuzz_gptc_checkpoint.cpp — gptc's own checkpoint format (GPTCCKPT: model.ckpt and a step
// folder's state.bin) and the training-state parsing on top of it (keys, step, loss curves).
#include "fuzz/fuzz_util.h"
#include "runtime/train/train_checkpoint.h"

#include <filesystem>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string folder = [] {
    std::string d = gptc::fuzz::scratchDir() + "/step";
    std::filesystem::create_directories(d);
    return d;
  }();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string path = gptc::fuzz::writeScratch("step/state.bin", bytes);
  gptc::IoResult<gptc::GptcCheckpoint> c = gptc::readGptcCheckpoint(path);
  if (c)
    for (const gptc::NamedTensor& t : c->tensors)
      if (gptc::checkedNumel(t.shape) != int64_t(t.data.size()))
        gptc::fuzz::fuzzFail("tensor " + t.name + " has the wrong element count");
  // model.bin: the same bytes (a gptc-format params file), so both readers see the input.
  gptc::fuzz::writeScratch("step/model.bin", bytes);
  gptc::IoResult<gptc::TrainCheckpoint> tc = gptc::readTrainCheckpoint(folder);
  if (tc && !c) gptc::fuzz::fuzzFail("a training state read from an unreadable file");
  return 0;
}
