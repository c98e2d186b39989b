// Graph statistics for `gptc compile`'s summary and for tests: ops by kind, parameter count and
// bytes, FLOPs per op kind, activation bytes. Pure functions of a Graph; nothing here changes it.
//
// FLOP convention (forward or whatever the graph holds, one step):
//   matmul, linear            2*M*N*K per output matrix (a multiply and an add per MAC); linear's
//                             bias add is not counted, as in the usual 6*N*D training estimate
//   elementwise / broadcast   one per output element (add, scale, gelu, dropout, masks, ...)
//   reductions, layernorm,    one per input element (each is read and folded once)
//   softmax, cross_entropy
//   layout and data movement  zero (reshape, transpose, slice, select, concat, embedding, fill,
//   ...)
// Transcendentals count as one FLOP, like an add; the figure is for comparing graphs, not cycles.
//
// Bytes moved (per step): for every op that runs a kernel (views -- reshape, select, contiguous
// slices -- run none), the bytes of each operand plus the bytes of the result, each counted once
// per kernel: the memory traffic a kernel that reads its inputs once and writes its output once
// would cause. Fusion lowers it by keeping intermediates in registers (docs/fusion.md).
//
// What it leaves to others: memory after planning (the plan reports arena bytes); the activation
// figure here is the naive one -- every op result in its own buffer -- the bound planning improves
// (a `select` of a stacked parameter is a view of parameter bytes and is not counted).
#pragma once
#include "ir/graph.h"

#include <cstdint>
#include <map>
#include <string>

namespace gptc {

struct OpKindStats {
  int64_t count = 0;
  int64_t flops = 0;
  int64_t resultBytes = 0;
  int64_t bytesMoved = 0;
};

struct GraphStats {
  std::map<std::string, OpKindStats> byKind; ///< op name -> totals
  int64_t ops = 0;
  int64_t paramCount = 0, paramBytes = 0; ///< `param` declarations (trained)
  int64_t stateCount = 0, stateBytes = 0; ///< `state` declarations (moments, caches)
  int64_t inputBytes = 0;                 ///< fed each step
  int64_t flops = 0;                      ///< per step, by the convention above
  int64_t activationBytes = 0;            ///< every op result, no reuse (param slices excluded)
  int64_t kernels = 0;                    ///< ops that run a kernel (not views)
  int64_t bytesMoved = 0;                 ///< Σ over kernels of operand + result bytes
};

/// FLOPs of one node by the convention above.
int64_t nodeFlops(const Graph& g, const Node& n);

GraphStats computeStats(const Graph& g);

struct StorageInfo;
/// Operand bytes + result bytes of one node's kernel; 0 for a view (`views` from analyzeViews).
int64_t nodeBytesMoved(const Graph& g, const Node& n, const StorageInfo& views);

/// 124475904 -> "124,475,904".
std::string groupDigits(int64_t n);
/// 497903616 -> "474.8 MiB".
std::string humanBytes(int64_t bytes);

} // namespace gptc
