// GPT-2's byte-level BPE tokenizer, loaded from the standard `encoder.json` + `vocab.bpe` pair.
// Pre-tokenisation uses GPT-2's regex (PCRE2, UTF + UCP); each piece's bytes become byte tokens and
// are merged pairwise by merge rank, with a cache of pieces already seen.
//
// Leaves to others: where the files come from (a committed fixture or a user path, never a
// download), the llm.c `gpt2_tokenizer.bin` decode-only format, and what the ids are used for.
#pragma once
#include "runtime/formats/file_io.h"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

class BpeTokenizer {
public:
  /// Loads and validates the vocabulary (dense unique ids, every key made of GPT-2's byte alphabet,
  /// all 256 single bytes present) and the merges (two parts per line, both parts and their
  /// concatenation in the vocabulary, no duplicates). Errors name the file (and line for merges).
  static IoResult<BpeTokenizer> load(const std::string& encoderJsonPath,
                                     const std::string& vocabBpePath);
  /// load(dir + "/encoder.json", dir + "/vocab.bpe").
  static IoResult<BpeTokenizer> loadDir(const std::string& dir);

  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;
  ~BpeTokenizer();

  /// Token ids of `text`. The text is taken literally: "<|endoftext|>" in it is encoded as ordinary
  /// characters unless allowEndOfText is set, in which case each occurrence becomes eot().
  /// Bytes that are not valid UTF-8 are not dropped: each run of them is BPE-encoded as its own
  /// piece, so decode(encode(s)) == s for every byte string s. Fails only if PCRE2 itself fails
  /// (e.g. its match limit on pathological input). Thread-safe.
  IoResult<std::vector<int32_t>> encode(std::string_view text, bool allowEndOfText = false) const;

  /// The bytes of the ids, concatenated (may be invalid UTF-8 if a multi-byte character is split
  /// across a prefix of ids). An id outside [0, vocabSize()) is an error naming its position.
  IoResult<std::string> decode(std::span<const int32_t> ids) const;

  /// The raw bytes of one token, or an error for an id out of range.
  IoResult<std::string> tokenBytes(int32_t id) const;

  /// Number of ids (50257 for GPT-2).
  int32_t vocabSize() const;
  /// Id of "<|endoftext|>" (50256 for GPT-2), or -1 if the vocabulary has none.
  int32_t eot() const;
  /// Number of merge rules (50000 for GPT-2).
  size_t mergeCount() const;

private:
  struct Impl;
  explicit BpeTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

} // namespace gptc
