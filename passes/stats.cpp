// Graph statistics; the FLOP convention is written once, in stats.h, and implemented in nodeFlops.
// What it leaves to others: printing (tools/cmd_compile.cpp), planned memory (plan-memory).
#include "passes/stats.h"
#include "passes/liveness.h"

#include <fmt/format.h>

namespace gptc {

int64_t nodeFlops(const Graph& g, const Node& n) {
  const TensorType& out = g.type(n.result);
  auto in = [&](int i) { return g.type(n.operands[i]).numel(); };
  switch (n.kind) {
  case OpKind::MatMul:
  case OpKind::MatMulGeluGrad: {
    const TensorType& a = g.type(n.operands[0]);
    int64_t k = attrInt(n.attrs, "ta") ? a.shape[a.rank() - 2] : a.shape.back();
    return 2 * out.numel() * k; // out holds every batch's M*N
  }
  case OpKind::Attention:
  case OpKind::AttentionGrad: {
    // q·kᵀ and P·v per (query, key) pair: 2·Tq·Tk·(D + Dv) per batch-head, halved when causal;
    // the gradient recomputes the scores, the log-sum-exp's pass, dout·vᵀ, dv, dq and dk.
    const TensorType &q = g.type(n.operands[0]), &k = g.type(n.operands[1]);
    const TensorType& v = g.type(n.operands[2]);
    int64_t tk = k.shape[k.rank() - 2], d = q.shape.back(), dv = v.shape.back();
    int64_t pairs = q.numel() / d * tk / (attrInt(n.attrs, "causal") ? 2 : 1);
    return n.kind == OpKind::Attention ? 2 * pairs * (d + dv) : 2 * pairs * (3 * d + 3 * dv);
  }
  case OpKind::LinearCrossEntropy:
  case OpKind::LinearCrossEntropyGrad: {
    // the logits' matmul (2·rows·N·C); the gradient recomputes them twice (once for dx's chunks of
    // rows, once for dw's slices of w) and adds dx = dlogits·w and dw = dlogitsᵀ·x
    const TensorType& x = g.type(n.operands[0]);
    int64_t logits = 2 * x.numel() * g.type(n.operands[1]).shape[0];
    return n.kind == OpKind::LinearCrossEntropy ? logits : 4 * logits;
  }
  case OpKind::Linear:
  case OpKind::LinearGelu:
  case OpKind::QMatMul:
  case OpKind::QLinear:
  case OpKind::CacheMatMul: // counted over the whole cache, as the matmul it replaces
    return 2 * out.numel() * g.type(n.operands[0]).shape.back();
  case OpKind::LayerNorm:
  case OpKind::LayerNormGradX:
  case OpKind::LayerNormGradW:
  case OpKind::RMSNorm:
  case OpKind::RMSNormGradX:
  case OpKind::RMSNormGradW:
  case OpKind::Softmax:
  case OpKind::SoftmaxGrad:
  case OpKind::ScaleMaskSoftmax:
  case OpKind::MaskedSoftmaxGrad:
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax:
  case OpKind::CrossEntropy:
  case OpKind::CrossEntropyGrad:
    return in(0);
  case OpKind::EmbeddingGrad:
    return in(1); // one add per row element scattered
  case OpKind::EmbeddingGradAdd:
    return 2 * in(2); // each dy element into its row's sum, each sum into acc (once per row)
  case OpKind::Reshape:
  case OpKind::Transpose:
  case OpKind::SplitHeads:
  case OpKind::MergeHeads:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Concat:
  case OpKind::Select:
  case OpKind::Stack:
  case OpKind::Broadcast:
  case OpKind::Embedding:
  case OpKind::Fill:
    return 0;
  default:
    break;
  }
  // Everything else -- the elementwise rows and any op added later (fused kernels) -- by category.
  switch (opInfo(n.kind).category) {
  case FusionCategory::Injective:
    return 0;
  case FusionCategory::Reduce:
    return n.operands.empty() ? out.numel() : in(0);
  default:
    return out.numel();
  }
}

int64_t nodeBytesMoved(const Graph& g, const Node& n, const StorageInfo& views) {
  if (views.noCode[n.result]) return 0; // a view: no kernel runs
  int64_t bytes = g.type(n.result).bytes();
  for (int v : n.operands)
    bytes += g.type(v).bytes();
  return bytes;
}

GraphStats computeStats(const Graph& g) {
  GraphStats s;
  StorageInfo views = analyzeViews(g);
  for (const Value& v : g.values) {
    if (v.kind == ValueKind::Param) {
      s.paramCount += v.type.numel();
      s.paramBytes += v.type.bytes();
    } else if (v.kind == ValueKind::State) {
      s.stateCount += v.type.numel();
      s.stateBytes += v.type.bytes();
    } else if (v.kind == ValueKind::Input) {
      s.inputBytes += v.type.bytes();
    }
  }
  for (const Node& n : g.nodes) {
    OpKindStats& k = s.byKind[std::string(opName(n.kind))];
    int64_t flops = nodeFlops(g, n), bytes = g.type(n.result).bytes();
    int64_t moved = nodeBytesMoved(g, n, views);
    k.bytesMoved += moved;
    s.bytesMoved += moved;
    if (!views.noCode[n.result]) s.kernels += 1;
    k.count += 1;
    k.flops += flops;
    k.resultBytes += bytes;
    s.ops += 1;
    s.flops += flops;
    // A layer of a stacked parameter is a view of parameter bytes, not a new activation.
    bool paramSlice = n.kind == OpKind::Select && g.value(n.operands[0]).kind != ValueKind::Op &&
                      g.value(n.operands[0]).kind != ValueKind::Input;
    if (!paramSlice) s.activationBytes += bytes;
  }
  return s;
}

std::string groupDigits(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string humanBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

} // namespace gptc
