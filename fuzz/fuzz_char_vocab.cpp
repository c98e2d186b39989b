// fuzz/fuzz_char_vocab.cpp — the character vocabulary file (vocab.bin, "GCHR") and its codec:
// whatever loads must round-trip its own symbols.
#include "fuzz/fuzz_util.h"
#include "runtime/text/char_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string path = gptc::fuzz::writeScratch("vocab.bin", bytes);
  gptc::IoResult<gptc::CharTokenizer> t = gptc::CharTokenizer::load(path);
  if (t) {
    std::string all(t->symbols().begin(), t->symbols().end());
    gptc::IoResult<std::vector<int32_t>> ids = t->encode(all);
    if (!ids) gptc::fuzz::fuzzFail("a vocabulary cannot encode its own symbols: " + ids.error());
    gptc::IoResult<std::string> back = t->decode(*ids);
    if (!back || *back != all) gptc::fuzz::fuzzFail("decode(encode(symbols)) != symbols");
    (void)t->encode(bytes);
  }
  // The vocabulary of the input taken as training text.
  gptc::CharTokenizer fromText = gptc::CharTokenizer::fromText(bytes);
  gptc::IoResult<std::vector<int32_t>> ids = fromText.encode(bytes);
  if (!ids) gptc::fuzz::fuzzFail("text cannot be encoded by its own vocabulary");
  gptc::IoResult<std::string> back = fromText.decode(*ids);
  if (!back || *back != bytes) gptc::fuzz::fuzzFail("text does not round-trip");
  return 0;
}
