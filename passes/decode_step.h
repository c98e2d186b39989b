// The decode-step pass: turns a model's expanded forward graph, built with T = t (the number of new
// tokens per step: 1 for decoding, the prompt length for a prefill), into a generation step whose
// causal self-attention reads and appends to a KV cache held as persistent state.
//
// What it does, on the flat graph after `expand`:
//   - drops the loss and every other output but `logits`, and every dropout (inference);
//   - adds `input pos : i32[]`, the position of the step's first token;
//   - for each causal self-attention  s = matmul(q, k){tb=1} … causal_mask … softmax … matmul(w,
//   v):
//       state cache.k : f32[B,H,ctx,D] init zeros      (likewise cache.v)
//       %cache.k.new = dynamic_update_slice(%cache.k, %k, %pos) {axis = 2}
//       update %cache.k = %cache.k.new
//     and the scores use the cache (B,H,t,ctx) with causal_mask_at(scores, pos) in place of
//     causal_mask, so positions past pos+i are masked and the shapes stay static; for t <=
//     kCacheMatMulMaxRows the scores are cache_matmul(q, cache.k.new, pos), which reads only the
//     rows 0..pos+t-1 (its other columns are 0, then masked);
//   - learned positions `slice(wpe){start=0,end=t}` become dynamic_slice(wpe, pos){size=t}, and
//     sinusoidal(){rows=t} becomes dynamic_slice(sinusoidal(){rows=ctx}, pos), and rope(x) (rotary
//     positions, no table) becomes rope(x, pos), so the cached keys are rotated at their positions;
//   - the output layer reads only the last position: logits is [B,1,V];
//   - values named in `cut` become inputs (seq2seq: `mem`, the encoder's output, computed once per
//     source by a separate inference graph) and what only they needed is gone.
// Params are all kept (a checkpoint binds by name, whatever one step reads).
//
// What it leaves to others: running the step and feeding pos (runtime/generate/generator.h),
// cleaning up (simplify/cse/dce run after it in the `decode` pipeline), planning the cache
// (plan-memory keeps state persistent and updates it in place).
#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

#include <string>
#include <vector>

namespace gptc {

/// Steps of at most this many tokens take their scores from cache_matmul (the GEMV's row limit,
/// codegen/lower_matmul.cpp); longer ones (prefill) from the packed matmul over the whole cache.
constexpr int64_t kCacheMatMulMaxRows = 4;

struct DecodeOptions {
  int64_t context = 0;          ///< cache positions; 0 = rows of the learned position table
  std::vector<std::string> cut; ///< values that become inputs of the step
  std::string logits = "logits";
};

/// The decode (or prefill) step of `full` (see the header comment). A located Diag when the graph
/// has no `logits`, no causal self-attention, or a pattern the rewrite does not know.
Expected<Graph> buildDecodeStep(const Graph& full, const DecodeOptions& options);

/// `full` for inference with only `outputs` kept: dropout removed, unused inputs dropped, params
/// all kept (seq2seq's encoder: outputs = {"mem"}).
Expected<Graph> buildInferenceGraph(const Graph& full, const std::vector<std::string>& outputs);

/// The registered pass: options from PassContext::options ("decode.context" = "256",
/// "decode.cut" = "mem").
Expected<bool> runDecodeStep(PassContext& ctx);

} // namespace gptc
