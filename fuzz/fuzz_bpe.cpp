// fuzz/fuzz_bpe.cpp — GPT-2's BPE: the loader on arbitrary encoder.json + vocab.bpe pairs (split
// at a 0xff 0xfe separator) and, with the real GPT-2 files, the encoder on arbitrary bytes:
// decode(encode(s)) == s for every byte string.
#include "fuzz/fuzz_util.h"
#include "runtime/text/bpe_tokenizer.h"

#include <optional>

namespace {

const gptc::BpeTokenizer* gpt2() {
  static std::optional<gptc::BpeTokenizer> tok = [] {
    const char* dir = std::getenv("GPTC_FUZZ_TOKENIZER");
    gptc::IoResult<gptc::BpeTokenizer> t =
        gptc::BpeTokenizer::loadDir(dir ? dir : GPTC_SOURCE_DIR "/assets/gpt2_tokenizer");
    if (!t) gptc::fuzz::fuzzFail("cannot load the GPT-2 tokenizer: " + t.error());
    return std::optional<gptc::BpeTokenizer>(std::move(*t));
  }();
  return &*tok;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (16 << 10)) return -1;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // 1. The encoder on the input, taken as text.
  gptc::IoResult<std::vector<int32_t>> ids = gpt2()->encode(bytes);
  if (!ids) gptc::fuzz::fuzzFail("encode failed: " + ids.error());
  gptc::IoResult<std::string> back = gpt2()->decode(*ids);
  if (!back) gptc::fuzz::fuzzFail("decode failed: " + back.error());
  if (*back != bytes) gptc::fuzz::fuzzFail("decode(encode(s)) != s");
  // 2. The loader on the input, taken as a pair of files.
  std::string_view json, merges;
  gptc::fuzz::splitAt(bytes, "\xff\xfe", &json, &merges);
  std::string jp = gptc::fuzz::writeScratch("encoder.json", json);
  std::string mp = gptc::fuzz::writeScratch("vocab.bpe", merges);
  gptc::IoResult<gptc::BpeTokenizer> t = gptc::BpeTokenizer::load(jp, mp);
  if (t) {
    gptc::IoResult<std::vector<int32_t>> e = t->encode("hello world \xe2\x80\x94 12");
    if (e) (void)t->decode(*e);
  }
  return 0;
}
