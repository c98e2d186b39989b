// runtime/train/batch_source.h — where a training run's batches come from, as named input tensors,
// so one training loop (runtime/train/trainer.h) serves every kind of model: a language model's
// random windows of text (tokens, targets) and the seq2seq model's digit-sorting task (src, tgt_in,
// tgt_out). Every source is pure in the batch index: batch k depends only on (seed, k), so a
// resumed run sees exactly the batches an uninterrupted one would, and a validation set is simply
// the batches 0..n-1 of a source with its own seed.
//
// What it leaves to others: reading and tokenizing files (runtime/text/token_data.h, the
// tokenizers), binding the tensors (the trainer), and what the model does with them.
#pragma once

#include "runtime/interp/interpreter.h"
#include "runtime/text/token_data.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gptc {

using NamedInputs = std::vector<std::pair<std::string, Tensor>>;

class BatchSource {
public:
  virtual ~BatchSource() = default;
  /// "" when `g` declares every input this source fills, with the shapes it fills them with.
  virtual std::string check(const Graph& g) const = 0;
  /// The inputs of batch `index` (pure: the same index gives the same batch).
  virtual NamedInputs batch(uint64_t index) const = 0;
  /// Tokens one batch trains on (for the tok/s figure).
  virtual int64_t tokensPerBatch() const = 0;
};

/// Language-model batches: tokens and targets i32[B, T], random windows of `tokens`
/// (RandomBatchSampler). nullptr and *err when the data is too short for one window.
std::unique_ptr<BatchSource> makeLmSource(std::vector<uint16_t> tokens, int B, int T, uint64_t seed,
                                          std::string* err);
/// makeLmSource with B and T read from the graph's `tokens` input (i32[B, T], with `targets` of
/// the same type).
std::unique_ptr<BatchSource> makeLmSourceFor(const Graph& g, std::vector<uint16_t> tokens,
                                             uint64_t seed, std::string* err);

// ---- the digit-sorting task (models/seq2seq.graph) ---------------------------------------------

/// Token ids of the task, as models/seq2seq.graph and tests/reference/models.py define them.
constexpr int32_t kSortPad = 0, kSortBos = 1, kSortEos = 2, kSortDigit0 = 3, kSortVocab = 13;

/// One example: digits (0-9, as values 0-9) of length 1..maxLen.
struct SortExample {
  std::vector<int32_t> digits;
};

/// Sorting batches: src i32[B, S] = digit tokens, EOS, PAD...; tgt_in i32[B, T] = BOS, sorted
/// digit tokens, EOS, PAD...; tgt_out i32[B, T] = sorted digit tokens, EOS, PAD... (tgt_in shifted
/// left). Lengths are uniform in 1..min(S-1, T-2) and digits uniform in 0..9, drawn from a
/// counter-based generator keyed by (seed, index, row) — bench/pytorch_models.py's sort_batch
/// distribution. B, S, T come from the graph's inputs.
std::unique_ptr<BatchSource> makeSortSourceFor(const Graph& g, uint64_t seed, std::string* err);

/// Whether `g` has the sorting task's inputs (src, tgt_in, tgt_out).
bool isSortModel(const Graph& g);

/// The example of row `row` of batch `index` of the source seeded with `seed` (its digits).
SortExample sortExample(uint64_t seed, uint64_t index, int row, int maxLen);

/// Teacher-forced accuracy on one batch: logits f32[B, T, V] against tgt_out i32[B, T], PAD
/// positions ignored. `tokens` = argmax hits / non-PAD positions; `sequences` = rows whose every
/// non-PAD position is a hit.
struct SortAccuracy {
  int64_t tokenHits = 0, tokenCount = 0, sequenceHits = 0, sequenceCount = 0;
  void add(const Tensor& logits, const Tensor& tgtOut);
  double tokens() const { return tokenCount ? double(tokenHits) / double(tokenCount) : 0; }
  double sequences() const {
    return sequenceCount ? double(sequenceHits) / double(sequenceCount) : 0;
  }
};

} // namespace gptc
