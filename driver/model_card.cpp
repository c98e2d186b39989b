// driver/model_card.cpp — the `card` statements of a model, checked (see model_card.h).
#include "driver/model_card.h"

#include <cmath>
#include <fmt/format.h>

namespace gptc {

Expected<ModelCard> readModelCard(const ast::Program& program) {
  ModelCard card;
  auto error = [&](const ast::CardEntry& e, std::string message) {
    return Diag{e.loc, std::move(message), program.lineText(e.loc.line)};
  };
  for (const ast::CardEntry& e : program.card) {
    const bool isName = !e.word.empty();
    if (e.key == "task") {
      if (e.word == "lm")
        card.task = ModelCard::Task::LanguageModel;
      else if (e.word == "seq2seq")
        card.task = ModelCard::Task::Seq2Seq;
      else
        return error(e, "card: task is lm or seq2seq");
    } else if (e.key == "vocab") {
      if (e.word != "chars" && e.word != "gpt2_bpe" && e.word != "digits" && e.word != "words")
        return error(e, "card: vocab is chars, gpt2_bpe, digits or words");
      card.vocab = e.word;
    } else if (e.key == "pad" || e.key == "sos" || e.key == "eos" || e.key == "eot" ||
               e.key == "digit0") {
      if (isName || e.number < 0 || e.number != std::floor(e.number))
        return error(e, fmt::format("card: {} is a token id (an integer >= 0)", e.key));
      card.ids[e.key] = int64_t(e.number);
    } else if (e.key == "data") {
      if (!isName)
        return error(e, "card: data names a text file of data/ (data = NAME: data/NAME.txt)");
      card.data = e.word;
    } else if (e.key == "tokens" || e.key == "source" || e.key == "memory") {
      if (!isName) return error(e, fmt::format("card: {} names a value of the model", e.key));
      (e.key == "tokens"   ? card.tokenInput
       : e.key == "source" ? card.sourceInput
                           : card.memory) = e.word;
    } else {
      return error(e, fmt::format("card: unknown key '{}' (task, vocab, pad, sos, eos, eot, "
                                  "digit0, tokens, source, memory, data)",
                                  e.key));
    }
  }
  if (card.seq2seq() && (card.sourceInput.empty() || card.memory.empty() || card.id("sos") < 0))
    return Diag{
        {},
        fmt::format("{}: card: a seq2seq model declares source, memory and sos", program.file),
        ""};
  if (card.vocab == "digits" && card.id("digit0") < 0)
    return Diag{{}, fmt::format("{}: card: vocab = digits needs digit0", program.file), ""};
  return card;
}

} // namespace gptc
