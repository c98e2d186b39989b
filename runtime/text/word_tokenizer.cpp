// Word-level tokenizer (see word_tokenizer.h).
#include "runtime/text/word_tokenizer.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>

namespace gptc {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/// The words of `text` in order.
std::vector<std::string_view> splitWords(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && isSpace(text[i]))
      ++i;
    size_t start = i;
    while (i < text.size() && !isSpace(text[i]))
      ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

} // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> words) : words_(std::move(words)) {
  for (size_t i = 0; i < words_.size(); ++i)
    ids_.emplace(words_[i], int32_t(i));
}

WordTokenizer WordTokenizer::fromText(std::string_view text) {
  std::set<std::string, std::less<>> distinct;
  for (std::string_view w : splitWords(text))
    distinct.emplace(w);
  return WordTokenizer(std::vector<std::string>(distinct.begin(), distinct.end()));
}

int32_t WordTokenizer::idOf(std::string_view word) const {
  auto it = ids_.find(word);
  return it == ids_.end() ? -1 : it->second;
}

IoResult<std::vector<int32_t>> WordTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (std::string_view w : splitWords(text)) {
    int32_t id = idOf(w);
    if (id < 0)
      return IoError{fmt::format("word {} ('{}') is not in the vocabulary of {} words", ids.size(),
                                 w, words_.size())};
    ids.push_back(id);
  }
  return ids;
}

IoResult<std::string> WordTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocabSize())
      return IoError{fmt::format("token {} (id {}) is outside the vocabulary of {} words", i,
                                 ids[i], words_.size())};
    if (i) out += ' ';
    out += words_[size_t(ids[i])];
  }
  return out;
}

IoStatus WordTokenizer::save(const std::string& path) const {
  std::string text;
  for (const std::string& w : words_)
    text += w + "\n";
  return writeFileAtomic(path, std::string_view(text));
}

IoResult<WordTokenizer> WordTokenizer::load(const std::string& path) {
  IoResult<std::string> text = readFileText(path, uint64_t(1) << 26);
  if (!text) return IoError{text.error()};
  std::vector<std::string> words;
  size_t line = 0, i = 0;
  const std::string& s = *text;
  while (i < s.size()) {
    size_t end = s.find('\n', i);
    if (end == std::string::npos) end = s.size();
    std::string w = s.substr(i, end - i);
    ++line;
    if (w.empty() || std::any_of(w.begin(), w.end(), isSpace))
      return ioError(path, fmt::format("line {}: a word vocabulary has one word a line, no "
                                       "spaces and no empty lines",
                                       line));
    if (!words.empty() && !(words.back() < w))
      return ioError(path, fmt::format("line {}: '{}' is not after '{}' (the words must be "
                                       "sorted, each once)",
                                       line, w, words.back()));
    words.push_back(std::move(w));
    i = end + 1;
  }
  if (words.empty()) return ioError(path, "no words");
  return WordTokenizer(std::move(words));
}

} // namespace gptc
