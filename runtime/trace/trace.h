// runtime/trace/trace.h — the study tracer: one training step of a compiled GPT, written as a log a
// learner reads top to bottom (gptc run --train --trace). Token ids and their text; embedding and
// positional statistics (and the sqrt(d) scale, when the model scales its embedding); for one layer
// and head the Q, K and V matrices, the attention scores before and after the causal mask (-inf
// shown), the softmax weights with each row's sum; the loss and the top-5 next-token predictions;
// every parameter's gradient (shape, mean, std, min, max) and the size of its update relative to
// the weights; the embedding table's statistics before and after the update.
//
// The values come from the compiled code itself: the tracer names the values it wants
// (observedValues), the memory plan keeps exactly those in the Persistent region
// (PlanOptions::observe), and after run() the tracer reads them. Nothing else about the step
// changes, so a traced step computes what an untraced one does (tests/study/).
//
// Use:
//   auto points = findTracePoints(graph, {.layer = 0, .head = 0});       // before compiling
//   PlanOptions po; po.observe = observedValues(*points);
//   auto engine = makeEngine(Engine::Jit, graph, threads, {}, &err, po);
//   Tracer tracer(*points);
//   tracer.before(*engine);    // copies the params (for the update size)
//   engine->run();
//   std::string log = tracer.report(*engine, step, tokenText);
//
// What it leaves to others: running the step (runtime/train/trainer.h), the flags and files
// (tools/cmd_train.cpp), pictures of the weights (attentionHeatmapSvg below is the only one).
#pragma once

#include "runtime/exec/step_engine.h"
#include "runtime/interp/interpreter.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gptc {

struct TraceOptions {
  int layer = 0;      ///< which block's attention to show
  int head = 0;       ///< which head of it
  int batchRow = 0;   ///< which sequence of the batch
  int maxTokens = 16; ///< matrices up to this many tokens are printed in full, longer ones cut
  std::string tokenSeparator; ///< between tokens in the row's text: "" (chars, BPE), " " (words)
};

/// The names of the values one trace reads, found in a flat graph by the models' naming (q.L,
/// k.L, v.L, att.L; the causal_mask and softmax that consume att.L; the embedding of `tokens`;
/// logits, loss; grad.P for every param P).
struct TracePoints {
  TraceOptions options;
  std::string tokens, targets; ///< inputs
  std::string embedding;       ///< embedding(tokens, wte)            (B,T,C)
  std::string embeddingTable;  ///< the param it reads (wte), when it reads a param
  std::string embeddingScaled; ///< scale(embedding) {s}, when the model scales it (B,T,C)
  double embeddingScale = 1;   ///< ... its s (sqrt(C) in "Attention Is All You Need")
  std::string embeddingSum;    ///< embedding + positions             (B,T,C)
  std::string positions;       ///< the positional term, when it is computed (not a param slice)
  std::string positionParam;   ///< ... or the param it is a slice of (rows [0, T))
  std::string q, k, v;         ///< (B,NH,T,hd)
  std::string scores, masked, probs; ///< (B,NH,T,T): scaled scores, after the mask, softmax
  int64_t maskOffset = 0;   ///< the causal_mask's offset: key j is hidden when j > i + offset
  std::string logits, loss; ///< (B,T,V), f32[]
  int64_t classes = 0;      ///< columns of the logits that are real tokens
  std::vector<std::pair<std::string, std::string>> grads; ///< (param, its gradient value)
};

/// Finds the trace points of `options.layer` in `g` (a train-pipeline graph for the gradients; an
/// inference graph gives the forward part). A Diag says what is missing (e.g. a layer out of
/// range).
Expected<TracePoints> findTracePoints(const Graph& g, const TraceOptions& options);

/// Every value name the trace reads after the step (for PlanOptions::observe). The masked scores
/// are not among them: softmax overwrites them in place, and keeping them would change how the
/// softmax kernel is compiled (an out-of-place kernel is vectorized differently and rounds
/// differently in the last bit). The tracer applies the mask's rule to the scores instead
/// (maskedScores), and tests check that against the interpreter's masked values.
std::vector<std::string> observedValues(const TracePoints& points);

/// Text of a token id for the log (a character, "\n" escaped, or a BPE piece).
using TokenText = std::function<std::string(int32_t id)>;

class Tracer {
public:
  explicit Tracer(TracePoints points) : p_(std::move(points)) {}
  /// Copies every param of the engine's graph: the update's size is measured against them.
  std::string before(const StepEngine& engine);
  /// The log of the step that just ran (0-based `step`). On a read failure the log says so.
  std::string report(const StepEngine& engine, int64_t step, const TokenText& text) const;
  /// The softmax weights (B,NH,T,T) of the traced layer after the step; "" or why not.
  std::string attention(const StepEngine& engine, Tensor* out) const;
  const TracePoints& points() const { return p_; }

private:
  TracePoints p_;
  std::map<std::string, Tensor> paramsBefore_;
};

/// The scores (B,NH,T,T) with causal_mask's rule applied: -inf where key j > query i + offset.
Tensor maskedScores(const Tensor& scores, int64_t offset);

/// Mean, standard deviation (population), min, max; NaN/Inf counted apart.
struct TensorStats {
  double mean = 0, std = 0, min = 0, max = 0;
  int64_t count = 0, nonFinite = 0;
};
TensorStats statsOf(const float* data, int64_t n);

/// A heatmap of one head's attention weights (row = query, column = key), white 0 to dark blue 1,
/// the masked cells hatched grey, token texts on both axes, as a self-contained SVG.
std::string attentionHeatmapSvg(const Tensor& probs, int batchRow, int head,
                                const std::vector<std::string>& labels, const std::string& title);

} // namespace gptc
