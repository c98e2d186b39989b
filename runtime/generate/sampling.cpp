// runtime/generate/sampling.cpp — temperature/top-k/top-p sampling by full recomputation (see
// sampling.h).
#include "runtime/generate/sampling.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

namespace gptc {

uint64_t SampleRng::next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

int32_t pickToken(std::span<const float> logits, const SamplingOptions& options, SampleRng& rng) {
  const int V = int(logits.size());
  if (V == 0) return 0;
  if (options.temperature <= 0) // greedy; max_element returns the first (lowest id) maximum
    return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<int32_t> ids(static_cast<size_t>(V));
  std::iota(ids.begin(), ids.end(), 0);
  int k = options.topK > 0 ? std::min(options.topK, V) : V;
  // Most likely first, lower id first among equals, so the kept set never depends on sort order.
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  // softmax(logits / temperature) over the kept ids, in double; subtracting the max keeps exp()
  // finite.
  std::vector<double> p(static_cast<size_t>(k));
  double top = double(logits[ids[0]]), sum = 0;
  for (int j = 0; j < k; ++j)
    sum += p[j] = std::exp((double(logits[ids[j]]) - top) / options.temperature);
  if (options.topP < 1.0) { // nucleus: the most likely prefix holding topP of the mass
    double kept = 0;
    int n = 0;
    while (n < k && kept < options.topP * sum)
      kept += p[n++];
    k = std::max(n, 1);
    sum = kept > 0 ? kept : p[0];
  }
  double u = rng.uniform() * sum;
  for (int j = 0; j < k; ++j) {
    u -= p[j];
    if (u < 0) return ids[j];
  }
  return ids[k - 1]; // u landed on the rounding slack at the very end
}

std::string sampleTokens(StepEngine& forward, std::vector<int32_t>& context, int count,
                         const SamplingOptions& options, int64_t vocab) {
  const Graph& g = forward.graph();
  int tokens = g.find("tokens"), logits = g.find("logits");
  if (tokens < 0 || g.values[tokens].kind != ValueKind::Input || logits < 0)
    return "sampling needs a graph with `input tokens` and `output logits`";
  const TensorType& tt = g.type(tokens);
  const TensorType& lt = g.type(logits);
  if (tt.dtype != DType::i32 || tt.rank() != 2 || lt.rank() != 3 || lt.shape[1] != tt.shape[1] ||
      lt.shape[0] != tt.shape[0])
    return "sampling needs tokens : i32[B, T] and logits : f32[B, T, V]";
  if (context.empty()) return "sampling needs at least one token of context";
  const int64_t T = tt.shape[1], V = lt.shape[2];
  const int64_t pick = vocab > 0 ? std::min(vocab, V) : V;
  // Inputs other than the tokens (targets, the dropout seed) do not change the logits; bind zeros
  // once so the step can run.
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Input && v.name != "tokens")
      if (std::string e = forward.bind(v.name, Tensor(v.type)); !e.empty()) return e;

  SampleRng rng(options.seed);
  Tensor in(tt); // row 0 holds the window, the rest stays 0
  Tensor out;
  for (int n = 0; n < count; ++n) {
    int64_t len = std::min<int64_t>(T, int64_t(context.size()));
    std::copy(context.end() - len, context.end(), in.i.begin()); // (T,) the last len tokens
    std::fill(in.i.begin() + len, in.i.begin() + T, 0);
    if (std::string e = forward.bind("tokens", in); !e.empty()) return e;
    if (std::string e = forward.run(); !e.empty()) return e;
    if (std::string e = forward.read("logits", &out); !e.empty()) return e;
    std::span<const float> row(out.f.data() + (len - 1) * V, size_t(pick)); // at the last token
    context.push_back(pickToken(row, options, rng));
  }
  return "";
}

} // namespace gptc
