// Word-level tokenizer (the attention log's toy vocabulary, models/attention_log.graph): the
// vocabulary is the sorted set of the whitespace-separated words of a training text, id = rank of
// the word in that set; a line break is only a separator. Saved as a text file, one word a line
// in id order (docs/file-formats.md, "word vocabulary"), so a checkpoint's vocabulary can be read
// with `cat`.
//
// Leaves to others: reading the text (file_io), choosing this tokenizer (a model card's
// `vocab = words`, driver/model_card.h), anything a real tokenizer does (punctuation attached to a
// word is part of it: write "mat ." to make "." a word of its own).
#pragma once
#include "runtime/formats/file_io.h"

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

class WordTokenizer {
public:
  /// The sorted set of distinct words of `text` (split at spaces, tabs and line breaks).
  static WordTokenizer fromText(std::string_view text);

  /// Ids of the words of `text`; a word not in the vocabulary is an error naming it and its index.
  IoResult<std::vector<int32_t>> encode(std::string_view text) const;
  /// The words of the ids joined by single spaces; an id outside [0, vocabSize()) is an error
  /// naming its position.
  IoResult<std::string> decode(std::span<const int32_t> ids) const;

  int32_t vocabSize() const { return int32_t(words_.size()); }
  /// words()[id] is the word of token `id`.
  const std::vector<std::string>& words() const { return words_; }
  /// Id of `word`, or -1.
  int32_t idOf(std::string_view word) const;

  /// Writes the vocabulary atomically: one word a line, in id order.
  IoStatus save(const std::string& path) const;
  /// Reads a vocabulary file: non-empty words without whitespace, strictly increasing, at least
  /// one.
  static IoResult<WordTokenizer> load(const std::string& path);

private:
  explicit WordTokenizer(std::vector<std::string> words);
  std::vector<std::string> words_;
  std::map<std::string, int32_t, std::less<>> ids_;
};

} // namespace gptc
