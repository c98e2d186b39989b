// runtime/text/vocab_check.cpp — data vocabulary against the model's V (see vocab_check.h).
#include "runtime/text/vocab_check.h"

#include "runtime/formats/param_store.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {
namespace {

/// GPT-2's BPE vocabulary: what `gptc tokenize` writes (ids 0..50256, <|endoftext|> last).
constexpr int64_t kGpt2Vocab = 50257;
/// A character vocabulary is a set of bytes.
constexpr int64_t kMaxCharSymbols = 256;

/// "--set V=n" (and Vp with it) when the model declares V; "" when it does not.
std::string setV(const ModelVocab& m, int64_t n) {
  if (!m.constV) return "";
  return m.constVp ? fmt::format("--set V={} Vp={}", n, n) : fmt::format("--set V={}", n);
}

} // namespace

ModelVocab modelVocab(const std::string& modelPath, const ast::Program& program,
                      const Graph& expanded) {
  ModelVocab m;
  m.model = modelPath;
  for (const ast::ConstDecl& c : program.consts) {
    m.constV |= c.name == "V";
    m.constVp |= c.name == "Vp";
  }
  int logits = expanded.find("logits");
  if (logits >= 0 && expanded.type(logits).rank() > 0) m.V = expanded.type(logits).shape.back();
  if (IoResult<Gpt2Config> c = gpt2ConfigOf(expanded); c) m.V = c->V; // not the padded Vp
  return m;
}

std::string checkTextVocabulary(const std::string& dataPath, int64_t symbols, const ModelVocab& m) {
  if (m.V <= 0 || (symbols <= m.V && m.V <= kMaxCharSymbols)) return "";
  std::string head = fmt::format("{} is text with {} distinct characters but {}'s vocabulary is "
                                 "V = {}",
                                 dataPath, symbols, m.model, m.V);
  std::string chars = setV(m, symbols);
  std::string bpe = fmt::format("`gptc tokenize {} -o NAME` for GPT-2 BPE tokens, then "
                                "--data NAME_train.bin",
                                dataPath);
  if (m.V > kMaxCharSymbols) { // a BPE-sized vocabulary: ids >= 256 never occur in text
    if (m.V >= kGpt2Vocab)
      return head + ": " + bpe + (chars.empty() ? "" : ", or train on characters with " + chars);
    return head + " (a character vocabulary has at most 256)" +
           (chars.empty() ? "" : ": train on characters with " + chars);
  }
  // Too few ids for the characters.
  if (!chars.empty())
    return head + ": " + chars + ", or " + bpe + " with a BPE model (models/gpt2.graph)";
  return head + ": use a model with V >= " + std::to_string(symbols) + ", or " + bpe +
         " with a BPE model (models/gpt2.graph)";
}

std::string checkShardVocabulary(const std::string& path, std::span<const uint16_t> tokens,
                                 int64_t headerBytes, const ModelVocab& m) {
  if (m.V <= 0) return "";
  auto bad = std::find_if(tokens.begin(), tokens.end(), [&](uint16_t t) { return t >= m.V; });
  if (bad == tokens.end()) return "";
  const int64_t index = bad - tokens.begin();
  const int64_t top = *std::max_element(tokens.begin(), tokens.end());
  std::string ways;
  if (std::string s = setV(m, top + 1); !s.empty())
    ways = s + " (the largest id is " + std::to_string(top) + "), or ";
  ways += top < kGpt2Vocab ? "a model with GPT-2's vocabulary (models/gpt2.graph)"
                           : "a model whose V holds these ids";
  return fmt::format("{}: token id {} at index {} (byte offset {}) is outside {}'s vocabulary "
                     "V = {}: {}",
                     path, *bad, index, headerBytes + 2 * index, m.model, m.V, ways);
}

std::string checkWordVocabulary(const std::string& dataPath, int64_t words, const ModelVocab& m) {
  if (m.V <= 0 || words <= m.V) return "";
  std::string head = fmt::format("{} has {} distinct words but {}'s vocabulary is V = {}", dataPath,
                                 words, m.model, m.V);
  std::string fix = setV(m, words);
  return head + ": " + (fix.empty() ? "use a model with V >= " + std::to_string(words) : fix);
}

} // namespace gptc
