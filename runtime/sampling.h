// runtime/sampling.h — text from a language model's forward graph, the simple way: every new token
// recomputes the whole forward pass on the last T tokens (a sliding window; shorter contexts are
// left-aligned and the logits read at their last position, which the causal mask makes exact),
// then picks the next token from those logits with temperature and top-k, or greedily.
//
// It is O(T) forward passes per token on purpose: nothing is cached, so what it computes is exactly
// what the training graph computes: the oracle the KV-cache generator (runtime/generator.h) is
// tested against. pickToken is shared by both.
// What it leaves to others: compiling the forward graph (runtime/step_engine.h), the tokenizer.
#pragma once

#include "runtime/step_engine.h"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gptc {

struct SamplingOptions {
  double temperature = 1.0; ///< logits / temperature before the softmax; 0 = greedy (argmax)
  int topK = 0;             ///< keep the k most likely tokens; 0 = all
  uint64_t seed = 0;        ///< the same seed, model and prompt give the same text
  double topP = 1.0; ///< then the smallest most-likely set whose probability >= topP (nucleus)
};

/// A small counter-based generator (SplitMix64), so a seed gives the same text on every platform
/// and standard library (std::uniform_real_distribution is implementation-defined).
class SampleRng {
public:
  explicit SampleRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  /// Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }

private:
  uint64_t state_;
};

/// Picks a token id from one row of logits (V values). Greedy ties go to the lowest id; top-k ties
/// at the k-th value keep the lower ids.
int32_t pickToken(std::span<const float> logits, const SamplingOptions& options, SampleRng& rng);

/// Appends `count` tokens to `context` (which must be non-empty) using `forward`, a graph with
/// `input tokens : i32[B, T]` and `output logits : f32[B, T, V]` (row 0 is used; other inputs,
/// such as targets and seed, are bound to zeros). "" or why not.
std::string sampleTokens(StepEngine& forward, std::vector<int32_t>& context, int count,
                         const SamplingOptions& options);

} // namespace gptc
