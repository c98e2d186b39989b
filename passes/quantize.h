// The quantize pass (passes/quantize.cpp): f32 weights of an inference or decode graph replaced by
// bf16 or i8 params (with f32 block scales) that the contractions read, dequantized in registers
// for the decode step's few rows, through an f32 copy for larger ones. Off unless asked for
// (pass option `quantize.weights` = bf16 | int8; `--weights` on gptc run --generate / --eval).
#pragma once
#include "ir/graph.h"
#include "passes/pass_manager.h"

namespace gptc {

struct QuantizeOptions {
  DType dtype = DType::bf16; ///< bf16 or i8
  int64_t block = 32;        ///< i8: weights per scale along the last axis; 0 = one per row
  int64_t gemvRows = 4;      ///< up to this many rows: qlinear/qmatmul (codegen's GEMV threshold)
  /// i8: qlinear/qmatmul quantize x too, in pieces of this many (their `xblock`; ggml's q8_0 ×
  /// q8_0: integer dot products); 0 keeps x in f32.
  int64_t xblock = 32;
};

/// The graph with its weights quantized (see the pass's header). A Diag when `o` is unusable.
Expected<Graph> quantizeWeights(const Graph& g, const QuantizeOptions& o);

Expected<bool> runQuantize(PassContext& ctx);

} // namespace gptc
