// runtime/text/vocab_check.h — the training data's vocabulary against the model's V, checked before
// anything compiles, so a run that cannot work fails in a second with one line saying why and
// what to do instead of after its last step (a sample that cannot be decoded) or never (a
// character file fed to GPT-2 trains, on 65 of its 50257 ids).
//
// The rules:
//   - text (a character vocabulary: the file's distinct bytes, so at most 256 symbols): the model's
//     V must hold the symbols (V >= n), and must be a character vocabulary (V <= 256), since ids
//     256 and up can never occur. Ways out: `--set V=n` when the model declares a constant V (and
//     Vp, GPT-2's padded rows, with it), or BPE tokens from `gptc tokenize` when V is a BPE size;
//   - a token shard: every id below V; the first one that is not is named with its index and byte
//     offset in the file.
//
// What it leaves to others: reading the files (runtime/text/token_data.h, char_tokenizer.h), the
// command line that prints the line and exits 2 (tools/cmd_train.cpp).
#pragma once

#include "ir/ast.h"
#include "ir/graph.h"

#include <cstdint>
#include <span>
#include <string>

namespace gptc {

/// What the data is checked against.
struct ModelVocab {
  std::string model;    ///< the model file, for messages
  int64_t V = 0;        ///< classes: GPT-2's V (not the padded Vp), else the width of logits
  bool constV = false;  ///< the model declares `const V` (so --set V=... works)
  bool constVp = false; ///< and a padded `const Vp` that must follow it
};

/// V of `expanded` (the model after `expand`, no other pass): the loss's classes when the model
/// is GPT-2 shaped, else the last dimension of `logits`; 0 when it has no `logits`.
ModelVocab modelVocab(const std::string& modelPath, const ast::Program& program,
                      const Graph& expanded);

/// Text data whose character vocabulary has `symbols` distinct bytes. "" or the one-line error.
std::string checkTextVocabulary(const std::string& dataPath, int64_t symbols, const ModelVocab& m);

/// Text data read as words (a model card's `vocab = words`) with `words` distinct words. "" or
/// the one-line error.
std::string checkWordVocabulary(const std::string& dataPath, int64_t words, const ModelVocab& m);

/// A shard's ids (`tokens` as read, after its header of `headerBytes`). "" or the one-line error
/// naming the first id >= V, its index and byte offset, and the largest id (for --set V=).
std::string checkShardVocabulary(const std::string& path, std::span<const uint16_t> tokens,
                                 int64_t headerBytes, const ModelVocab& m);

} // namespace gptc
