// GPT-2 byte-level BPE (see bpe_tokenizer.h). Internally every token is its raw byte string: the
// printable "byte alphabet" of encoder.json/vocab.bpe (bytes_to_unicode in OpenAI's encoder.py) is
// undone once at load time, so encoding works on bytes and ids only, and merges are a hash map from
// an id pair to (rank, merged id). This is the same algorithm as encoder.py, without strings in the
// inner loop.
#include "runtime/text/bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

namespace gptc {
namespace {

/// GPT-2's pre-tokeniser: contractions, letters, numbers, other symbols (each optionally led by one
/// space), then whitespace runs, leaving a final space to lead the next word.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kEndOfText = "<|endoftext|>";

/// bytes_to_unicode() inverted: code point -> byte, -1 if the code point is not in the alphabet.
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.
std::array<int, 324> makeByteDecoder() {
  std::array<int, 324> dec;
  dec.fill(-1);
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable(b))
      dec[size_t(b)] = b;
    else
      dec[size_t(256 + n++)] = b;
  }
  return dec;
}

/// Decodes one UTF-8 string of the byte alphabet into raw bytes; false if it is not one.
bool alphabetToBytes(std::string_view s, std::string& out) {
  static const auto dec = makeByteDecoder();
  out.clear();
  size_t i = 0;
  while (i < s.size()) {
    auto c = uint8_t(s[i]);
    uint32_t cp;
    if (c < 0x80) {
      cp = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < s.size() && (uint8_t(s[i + 1]) & 0xC0) == 0x80) {
      cp = uint32_t(c & 0x1F) << 6 | (uint8_t(s[i + 1]) & 0x3F);
      i += 2;
    } else {
      return false; // the alphabet lies below U+0144: never three bytes
    }
    if (cp >= dec.size() || dec[cp] < 0) return false;
    out.push_back(char(dec[cp]));
  }
  return true;
}

struct PairHash {
  size_t operator()(uint64_t k) const { return size_t(k * 0x9E3779B97F4A7C15ull >> 16); }
};

struct Merge {
  int32_t rank;
  int32_t merged;
};

} // namespace

struct BpeTokenizer::Impl {
  std::vector<std::string> tokens; // id -> raw bytes
  std::unordered_map<std::string, int32_t> ids;
  std::unordered_map<uint64_t, Merge, PairHash> merges; // (left id << 32 | right id) -> merge
  std::array<int32_t, 256> byteId{};
  int32_t eot = -1;
  pcre2_code* re = nullptr;
  mutable std::mutex cacheMu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  ~Impl() {
    if (re) pcre2_code_free(re);
  }

  void bpe(std::string_view piece, std::vector<int32_t>& out) const;
  IoStatus encodePlain(std::string_view text, std::vector<int32_t>& out) const;
};

void BpeTokenizer::Impl::bpe(std::string_view piece, std::vector<int32_t>& out) const {
  {
    std::lock_guard<std::mutex> lock(cacheMu);
    auto it = cache.find(std::string(piece));
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> word;
  word.reserve(piece.size());
  for (char c : piece)
    word.push_back(byteId[uint8_t(c)]);
  std::vector<int32_t> next;
  while (word.size() > 1) {
    // The lowest-ranked adjacent pair is merged everywhere it occurs, left to right.
    const Merge* best = nullptr;
    uint64_t bestKey = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      uint64_t key = uint64_t(uint32_t(word[i])) << 32 | uint32_t(word[i + 1]);
      auto it = merges.find(key);
      if (it != merges.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        bestKey = key;
      }
    }
    if (!best) break;
    auto first = int32_t(bestKey >> 32), second = int32_t(bestKey & 0xFFFFFFFFu);
    next.clear();
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        next.push_back(best->merged);
        i += 2;
      } else {
        next.push_back(word[i++]);
      }
    }
    word.swap(next);
  }
  out.insert(out.end(), word.begin(), word.end());
  std::lock_guard<std::mutex> lock(cacheMu);
  if (cache.size() >= (size_t(1) << 16)) cache.clear(); // bounded: long runs see endless new words
  cache.emplace(std::string(piece), std::move(word));
}

IoStatus BpeTokenizer::Impl::encodePlain(std::string_view text, std::vector<int32_t>& out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  if (!md) return ioError("bpe tokenizer", "out of memory creating PCRE2 match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  IoStatus status;
  while (pos < text.size()) {
    int rc = pcre2_match(re, subject, text.size(), pos, 0, md, nullptr);
    size_t start = text.size(), end = text.size();
    if (rc >= 0) {
      PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      start = ov[0];
      end = ov[1];
    } else if (rc != PCRE2_ERROR_NOMATCH) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      status = ioError("bpe tokenizer", "regex match failed at byte " + std::to_string(pos) + ": " +
                                            reinterpret_cast<const char*>(msg));
      break;
    }
    // With PCRE2_MATCH_INVALID_UTF, invalid UTF-8 is never inside a match: the skipped bytes are
    // a piece of their own, so no input byte is lost.
    if (start > pos) bpe(text.substr(pos, start - pos), out);
    if (end <= start) { // the pattern cannot match empty; guard against looping anyway
      if (start >= text.size()) break;
      end = start + 1;
      bpe(text.substr(start, 1), out);
    } else {
      bpe(text.substr(start, end - start), out);
    }
    pos = end;
  }
  pcre2_match_data_free(md);
  return status;
}

BpeTokenizer::BpeTokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

IoResult<BpeTokenizer> BpeTokenizer::loadDir(const std::string& dir) {
  return load(dir + "/encoder.json", dir + "/vocab.bpe");
}

IoResult<BpeTokenizer> BpeTokenizer::load(const std::string& encoderJsonPath,
                                          const std::string& vocabBpePath) {
  try {
    auto impl = std::make_unique<Impl>();
    // ---- encoder.json: {"<token in byte alphabet>": id, ...}
    auto encText = readFileText(encoderJsonPath, uint64_t(1) << 28);
    if (!encText) return encText.ioError();
    auto j = nlohmann::json::parse(*encText, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return ioError(encoderJsonPath, "not valid JSON");
    if (!j.is_object()) return ioError(encoderJsonPath, "expected a JSON object of token -> id");
    if (j.empty()) return ioError(encoderJsonPath, "the vocabulary is empty");
    const size_t n = j.size();
    if (n > (size_t(1) << 24)) return ioError(encoderJsonPath, "more than 2^24 tokens");
    impl->tokens.assign(n, std::string());
    std::vector<bool> seen(n, false);
    std::string bytes;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      if (!it.value().is_number_integer())
        return ioError(encoderJsonPath, "the id of token \"" + key + "\" is not an integer");
      auto id = it.value().get<int64_t>();
      if (id < 0 || uint64_t(id) >= n)
        return ioError(encoderJsonPath, "token \"" + key + "\" has id " + std::to_string(id) +
                                            ", outside 0.." + std::to_string(n - 1) +
                                            " (ids must be dense)");
      if (seen[size_t(id)])
        return ioError(encoderJsonPath, "id " + std::to_string(id) + " is used twice");
      seen[size_t(id)] = true;
      if (key == kEndOfText) {
        impl->eot = int32_t(id);
        bytes = key; // a special token: decodes to its own text
      } else if (!alphabetToBytes(key, bytes) || bytes.empty()) {
        return ioError(encoderJsonPath, "token \"" + key + "\" (id " + std::to_string(id) +
                                            ") is not in GPT-2's byte alphabet");
      }
      impl->tokens[size_t(id)] = bytes;
      if (id != impl->eot) impl->ids.emplace(bytes, int32_t(id));
    }
    for (int b = 0; b < 256; ++b) {
      auto it = impl->ids.find(std::string(1, char(b)));
      if (it == impl->ids.end())
        return ioError(encoderJsonPath, "no token for the single byte " + std::to_string(b) +
                                            " (byte-level BPE needs all 256)");
      impl->byteId[size_t(b)] = it->second;
    }

    // ---- vocab.bpe: "#version: 0.2" then one merge "left right" per line, best first
    auto mergeText = readFileText(vocabBpePath, uint64_t(1) << 28);
    if (!mergeText) return mergeText.ioError();
    std::string_view rest = *mergeText;
    size_t lineNo = 0;
    std::string left, right;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      ++lineNo;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) continue;
      if (lineNo == 1 && line[0] == '#') continue; // "#version: 0.2"
      auto where = vocabBpePath + ":" + std::to_string(lineNo);
      size_t sp = line.find(' ');
      if (sp == std::string_view::npos || sp == 0 || sp + 1 == line.size() ||
          line.find(' ', sp + 1) != std::string_view::npos)
        return ioError(where, "expected two tokens separated by one space, got \"" +
                                  std::string(line) + "\"");
      if (!alphabetToBytes(line.substr(0, sp), left) ||
          !alphabetToBytes(line.substr(sp + 1), right))
        return ioError(where,
                       "merge \"" + std::string(line) + "\" is not in GPT-2's byte alphabet");
      auto l = impl->ids.find(left), r = impl->ids.find(right), m = impl->ids.find(left + right);
      if (l == impl->ids.end() || r == impl->ids.end() || m == impl->ids.end())
        return ioError(where, "merge \"" + std::string(line) + "\" uses or makes a token that " +
                                  "is not in " + encoderJsonPath);
      uint64_t key = uint64_t(uint32_t(l->second)) << 32 | uint32_t(r->second);
      auto rank = int32_t(impl->merges.size());
      if (!impl->merges.emplace(key, Merge{rank, m->second}).second)
        return ioError(where, "merge \"" + std::string(line) + "\" appears twice");
    }

    // ---- the regex
    int err = 0;
    PCRE2_SIZE errOff = 0;
    impl->re =
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kGpt2Pattern), PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &errOff, nullptr);
    if (!impl->re) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof msg);
      return ioError("bpe tokenizer", std::string("cannot compile GPT-2's regex: ") +
                                          reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(impl->re, PCRE2_JIT_COMPLETE); // optional: the interpreter is the fallback
    return BpeTokenizer(std::move(impl));
  } catch (const std::exception& e) { // bad_alloc, or a JSON accessor surprise: still a value
    return ioError(encoderJsonPath, std::string("cannot load tokenizer: ") + e.what());
  }
}

IoResult<std::vector<int32_t>> BpeTokenizer::encode(std::string_view text,
                                                    bool allowEndOfText) const {
  try {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 1);
    while (true) {
      size_t at =
          allowEndOfText && impl_->eot >= 0 ? text.find(kEndOfText) : std::string_view::npos;
      if (IoStatus st = impl_->encodePlain(text.substr(0, at), out); !st) return st.ioError();
      if (at == std::string_view::npos) break;
      out.push_back(impl_->eot);
      text = text.substr(at + kEndOfText.size());
    }
    return out;
  } catch (const std::exception& e) {
    return ioError("bpe tokenizer", std::string("encode failed: ") + e.what());
  }
}

IoResult<std::string> BpeTokenizer::decode(std::span<const int32_t> ids) const try {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    if (id < 0 || size_t(id) >= impl_->tokens.size())
      return ioError("bpe tokenizer", "cannot decode token id " + std::to_string(id) +
                                          " at position " + std::to_string(i) + ": outside 0.." +
                                          std::to_string(impl_->tokens.size() - 1));
    out += impl_->tokens[size_t(id)];
  }
  return out;
} catch (const std::exception& e) {
  return ioError(std::string_view("bpe tokenizer"), std::string("failed: ") + e.what());
}

IoResult<std::string> BpeTokenizer::tokenBytes(int32_t id) const {
  return decode(std::span<const int32_t>(&id, 1));
}

int32_t BpeTokenizer::vocabSize() const {
  return int32_t(impl_->tokens.size());
}
int32_t BpeTokenizer::eot() const {
  return impl_->eot;
}
size_t BpeTokenizer::mergeCount() const {
  return impl_->merges.size();
}

} // namespace gptc
