// driver/model_card.h — what a model says about itself, so that tools never branch on a file name
// nor hard-code a token id. A `.graph` file declares it with `card` statements:
//
//   card task = seq2seq, vocab = digits, pad = 0, sos = 1, eos = 2, digit0 = 3
//   card tokens = tgt_in, source = src, memory = mem
//
// keys (all optional):
//   task    lm (a language model: next token from the previous ones; the default) | seq2seq
//   vocab   chars (the training text's characters, vocab.bin beside a checkpoint; the default) |
//           gpt2_bpe (GPT-2's BPE, assets/gpt2_tokenizer) | digits (ids digit0..digit0+9 are 0-9) |
//           words (the training text's whitespace-separated words, vocab.words beside a checkpoint:
//           runtime/text/word_tokenizer.h)
//   pad, sos, eos, eot, digit0   special token ids (eos stops a generated row; pad and sos are
//           never generated; eot starts an unprompted GPT-2 sample)
//   tokens  the decoder's token input (default `tokens`)
//   data    the training text `gptc run --train` reads when no --data is given: data/NAME.txt
//   source  seq2seq: the encoder's token input;  memory  seq2seq: the encoder's output value that
//           the decode step takes as an input (the generator's cut)
//
// What it leaves to others: tokenizers (runtime/), what a command does with the card (tools/).
#pragma once
#include "ir/ast.h"
#include "ir/diag.h"

#include <cstdint>
#include <map>
#include <string>

namespace gptc {

struct ModelCard {
  enum class Task { LanguageModel, Seq2Seq };
  Task task = Task::LanguageModel;
  std::string vocab = "chars";        ///< chars | gpt2_bpe | digits | words
  std::map<std::string, int64_t> ids; ///< pad, sos, eos, eot, digit0
  std::string tokenInput = "tokens";  ///< the decoder's token input
  std::string sourceInput;            ///< seq2seq: the encoder's token input
  std::string memory;                 ///< seq2seq: the encoder output the decoder reads
  std::string data;                   ///< the default training text: data/<data>.txt ("": none)

  /// The special token `name` ("eos"), or `fallback` when the card does not declare it.
  int64_t id(const std::string& name, int64_t fallback = -1) const {
    auto it = ids.find(name);
    return it == ids.end() ? fallback : it->second;
  }
  bool seq2seq() const { return task == Task::Seq2Seq; }
};

/// The card of `program`; a Diag at the entry for an unknown key or value.
Expected<ModelCard> readModelCard(const ast::Program& program);

} // namespace gptc
