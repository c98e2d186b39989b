// Character-level tokenizer (the tinyshakespeare GPT's): the vocabulary is the sorted set of bytes
// that occur in a training text, id = rank of the byte in that set. Saved as a small binary file
// (docs/file-formats.md, "char vocabulary") so generation uses the training run's exact vocabulary.
//
// Leaves to others: reading the text (file_io), token storage (token_data), and anything beyond
// bytes — it is byte-level, so a UTF-8 character outside ASCII is several tokens.
#pragma once
#include "runtime/formats/file_io.h"

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

class CharTokenizer {
public:
  /// The sorted set of distinct bytes of `text` (tinyshakespeare: 65 symbols). Empty text gives an
  /// empty vocabulary, which encodes nothing.
  static CharTokenizer fromText(std::string_view text);
  /// A vocabulary from explicit symbols; they must be strictly increasing (sorted, no repeats).
  static IoResult<CharTokenizer> fromSymbols(std::vector<uint8_t> symbols);

  /// Ids of the bytes of `text`; a byte not in the vocabulary is an error naming it and its offset.
  IoResult<std::vector<int32_t>> encode(std::string_view text) const;
  /// The bytes of the ids; an id outside [0, vocabSize()) is an error naming its position.
  IoResult<std::string> decode(std::span<const int32_t> ids) const;

  int32_t vocabSize() const { return int32_t(symbols_.size()); }
  /// symbols()[id] is the byte of token `id`.
  const std::vector<uint8_t>& symbols() const { return symbols_; }
  /// Id of byte b, or -1.
  int32_t idOf(uint8_t b) const { return idOf_[b]; }

  /// Writes the vocabulary atomically (format in docs/file-formats.md).
  IoStatus save(const std::string& path) const;
  /// Reads and validates a vocabulary file: magic, version, count 1..256, strictly increasing
  /// symbols, exact length, CRC-32.
  static IoResult<CharTokenizer> load(const std::string& path);

  static constexpr uint32_t kMagic = 0x52484347; // "GCHR" as little-endian bytes
  static constexpr uint32_t kVersion = 1;

private:
  explicit CharTokenizer(std::vector<uint8_t> symbols);
  std::vector<uint8_t> symbols_;
  std::array<int32_t, 256> idOf_{};
};

} // namespace gptc
