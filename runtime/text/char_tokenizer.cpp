// Character-level tokenizer (see char_tokenizer.h). The vocabulary file is tiny, so it is read
// whole and validated completely before a tokenizer is made from it.
#include "runtime/text/char_tokenizer.h"

#include <cstdio>

namespace gptc {
namespace {

/// "0x0a ('\n')" style description of a byte for error messages.
std::string describeByte(uint8_t b) {
  char buf[32];
  if (b >= 0x20 && b < 0x7F)
    std::snprintf(buf, sizeof buf, "0x%02x ('%c')", b, char(b));
  else
    std::snprintf(buf, sizeof buf, "0x%02x", b);
  return buf;
}

constexpr size_t kHeaderBytes = 12; // magic, version, count

} // namespace

CharTokenizer::CharTokenizer(std::vector<uint8_t> symbols) : symbols_(std::move(symbols)) {
  idOf_.fill(-1);
  for (size_t i = 0; i < symbols_.size(); ++i)
    idOf_[symbols_[i]] = int32_t(i);
}

CharTokenizer CharTokenizer::fromText(std::string_view text) {
  std::array<bool, 256> present{};
  for (char c : text)
    present[uint8_t(c)] = true;
  std::vector<uint8_t> symbols;
  for (int b = 0; b < 256; ++b)
    if (present[size_t(b)]) symbols.push_back(uint8_t(b));
  return CharTokenizer(std::move(symbols));
}

IoResult<CharTokenizer> CharTokenizer::fromSymbols(std::vector<uint8_t> symbols) try {
  for (size_t i = 1; i < symbols.size(); ++i)
    if (symbols[i] <= symbols[i - 1])
      return ioError("char vocabulary", "symbols must be strictly increasing, but symbol " +
                                            std::to_string(i) + " is " + describeByte(symbols[i]) +
                                            " after " + describeByte(symbols[i - 1]));
  return CharTokenizer(std::move(symbols));
} catch (const std::exception& e) {
  return ioError(std::string_view("char vocabulary"), std::string("failed: ") + e.what());
}

IoResult<std::vector<int32_t>> CharTokenizer::encode(std::string_view text) const try {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    int32_t id = idOf_[uint8_t(text[i])];
    if (id < 0)
      return ioError("char tokenizer", "byte " + describeByte(uint8_t(text[i])) + " at offset " +
                                           std::to_string(i) + " is not in the vocabulary of " +
                                           std::to_string(symbols_.size()) + " symbols");
    ids[i] = id;
  }
  return ids;
} catch (const std::exception& e) {
  return ioError(std::string_view("char tokenizer"), std::string("failed: ") + e.what());
}

IoResult<std::string> CharTokenizer::decode(std::span<const int32_t> ids) const try {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || size_t(ids[i]) >= symbols_.size())
      return ioError("char tokenizer", "cannot decode token id " + std::to_string(ids[i]) +
                                           " at position " + std::to_string(i) +
                                           ": the vocabulary has " +
                                           std::to_string(symbols_.size()) + " symbols");
    out[i] = char(symbols_[size_t(ids[i])]);
  }
  return out;
} catch (const std::exception& e) {
  return ioError(std::string_view("char tokenizer"), std::string("failed: ") + e.what());
}

IoStatus CharTokenizer::save(const std::string& path) const try {
  if (symbols_.empty()) return ioError(path, "refusing to save an empty vocabulary");
  std::vector<uint8_t> out;
  appendU32(out, kMagic);
  appendU32(out, kVersion);
  appendU32(out, uint32_t(symbols_.size()));
  out.insert(out.end(), symbols_.begin(), symbols_.end());
  appendU32(out, crc32(symbols_.data(), symbols_.size()));
  return writeFileAtomic(path, out);
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoResult<CharTokenizer> CharTokenizer::load(const std::string& path) try {
  auto bytes = readFileBytes(path, 4096);
  if (!bytes) return bytes.ioError();
  const auto& b = *bytes;
  if (b.empty()) return ioError(path, "empty file (expected a gptc char vocabulary)");
  if (b.size() < kHeaderBytes)
    return ioError(path, "too short for a char vocabulary header (" + std::to_string(b.size()) +
                             " bytes, the header alone is 12)");
  uint32_t magic = loadU32(b.data()), version = loadU32(b.data() + 4),
           count = loadU32(b.data() + 8);
  if (magic != kMagic)
    return ioError(path, "bad magic " + std::to_string(magic) + " (expected " +
                             std::to_string(kMagic) + ", \"GCHR\"): not a gptc char vocabulary");
  if (version != kVersion)
    return ioError(path, "unsupported version " + std::to_string(version) + " (gptc reads " +
                             std::to_string(kVersion) + ")");
  if (count < 1 || count > 256)
    return ioError(path, "symbol count " + std::to_string(count) + " is outside 1..256");
  size_t want = kHeaderBytes + count + 4;
  if (b.size() < want)
    return ioError(path, "truncated: " + std::to_string(b.size()) + " bytes, but " +
                             std::to_string(count) + " symbols need " + std::to_string(want));
  if (b.size() > want)
    return ioError(path, std::to_string(b.size() - want) + " trailing bytes after the " +
                             std::to_string(want) + "-byte vocabulary");
  std::vector<uint8_t> symbols(b.begin() + kHeaderBytes, b.begin() + long(kHeaderBytes + count));
  uint32_t stored = loadU32(b.data() + kHeaderBytes + count);
  uint32_t actual = crc32(symbols.data(), symbols.size());
  if (stored != actual)
    return ioError(path, "checksum mismatch (file says " + std::to_string(stored) +
                             ", symbols give " + std::to_string(actual) + "): the file is corrupt");
  auto tok = fromSymbols(std::move(symbols));
  if (!tok) return ioError(path, tok.error());
  return tok;
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

} // namespace gptc
