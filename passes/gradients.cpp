// The gradient rules: one function per op kind, each emitting ordinary IR ops for the gradients of
// the operands from dy (the gradient of the result), with its one-line derivation on top. The table
// at the bottom is built from ir/ops.def, so an op kind without a rule does not compile.
//
// Conventions: y is the op's result, dy its gradient; "reduce to x" means summing over the axes
// along which x was broadcast (GradBuilder::giveReduced). Rules read from the forward only what
// they need (softmax_grad takes y, not x; gelu_grad takes x). Backward-only ops refuse: gptc does
// first-order autodiff. What this file leaves to the driver (passes/autodiff.cpp): which operands
// want a gradient, naming, accumulating several uses, stacking per-layer gradients.
#include "passes/gradients.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {

GradBuilder::GradBuilder(Graph& g, Node node, int dy, std::vector<bool> wants,
                         std::vector<std::string> names)
    : g(g), node(std::move(node)), dy(dy), wants_(std::move(wants)), names_(std::move(names)),
      dx_(wants_.size(), -1) {}

int GradBuilder::emit(OpKind kind, std::vector<int> operands, Attrs attrs,
                      const std::string& suffix) {
  return g.add(kind, std::move(operands), std::move(attrs), node.loc,
               "d." + g.value(node.result).name + "." + suffix);
}

void GradBuilder::give(int k, OpKind kind, std::vector<int> operands, Attrs attrs) {
  dx_[k] = g.add(kind, std::move(operands), std::move(attrs), node.loc, names_[k]);
}

void GradBuilder::giveReduced(int k, int value) {
  Shape from = shape(value), to = shape(x(k));
  if (from == to) {
    pass(k, value);
    return;
  }
  // Leading axes x does not have, and axes where x has 1 and the result does not.
  size_t lead = from.size() - to.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < from.size(); ++d)
    if (d < lead || (to[d - lead] == 1 && from[d] != 1)) axes.push_back(int64_t(d));
  Shape summed;
  for (size_t d = 0; d < from.size(); ++d)
    if (std::find(axes.begin(), axes.end(), int64_t(d)) == axes.end()) summed.push_back(from[d]);
  if (summed == to) {
    give(k, OpKind::ReduceSum, {value}, {{"axes", axes}});
    return;
  }
  int sum = emit(OpKind::ReduceSum, {value}, {{"axes", axes}}, "sum" + std::to_string(k));
  give(k, OpKind::Reshape, {sum}, {{"shape", to}});
}

void GradBuilder::deferToStack(int k, int64_t index) {
  dx_[k] = dy;
  stackIndex_ = index;
}

namespace {

using G = GradBuilder;
Attrs attrs1(const std::string& name, AttrValue v) {
  return Attrs{{name, std::move(v)}};
}
int64_t I(int64_t v) {
  return v;
}

// A gradient the shape of y for operand k: emitted under k's name when k has y's shape, else as a
// temporary then reduced to k's shape.
void giveLikeY(G& c, int k, OpKind kind, std::vector<int> operands, Attrs attrs = {}) {
  if (c.shape(c.x(k)) == c.shape(c.y()))
    return c.give(k, kind, std::move(operands), std::move(attrs));
  c.giveReduced(k, c.emit(kind, std::move(operands), std::move(attrs), "full" + std::to_string(k)));
}

std::string notDifferentiable(G& c) {
  return fmt::format("not differentiable: '{}' is a backward or optimizer op (gptc differentiates "
                     "once)",
                     opName(c.node.kind));
}

// Ops whose operands are all marked '!' or that have none: nothing flows back.
std::string noGradient(G&) {
  return "";
}

// ---- elementwise and broadcasting arithmetic ----

// y = a + b: da = dy, db = dy (each reduced to its operand's shape)
std::string grad_Add(G& c) {
  if (c.wants(0)) c.giveReduced(0, c.dy);
  if (c.wants(1)) c.giveReduced(1, c.dy);
  return "";
}
// y = a - b: da = dy, db = -dy
std::string grad_Sub(G& c) {
  if (c.wants(0)) c.giveReduced(0, c.dy);
  if (c.wants(1)) giveLikeY(c, 1, OpKind::Scale, {c.dy}, attrs1("s", -1.0));
  return "";
}
// y = a * b: da = dy * b, db = dy * a
std::string grad_Mul(G& c) {
  if (c.wants(0)) giveLikeY(c, 0, OpKind::Mul, {c.dy, c.x(1)});
  if (c.wants(1)) giveLikeY(c, 1, OpKind::Mul, {c.dy, c.x(0)});
  return "";
}
// y = a / b: da = dy / b, db = -dy * a / b^2 = -(dy * y) / b
std::string grad_Div(G& c) {
  if (c.wants(0)) giveLikeY(c, 0, OpKind::Div, {c.dy, c.x(1)});
  if (c.wants(1)) {
    int dyy = c.emit(OpKind::Mul, {c.dy, c.y()}, {}, "dy_y");
    int q = c.emit(OpKind::Div, {dyy, c.x(1)}, {}, "dy_y_b");
    giveLikeY(c, 1, OpKind::Scale, {q}, attrs1("s", -1.0));
  }
  return "";
}
// y = s x: dx = s dy
std::string grad_Scale(G& c) {
  c.give(0, OpKind::Scale, {c.dy}, attrs1("s", attrFloat(c.node.attrs, "s")));
  return "";
}
// y = gelu(x): dx = dy * gelu'(x)
std::string grad_Gelu(G& c) {
  c.give(0, OpKind::GeluGrad, {c.x(0), c.dy});
  return "";
}
// y = max(x, 0): dx = dy * (x > 0)
std::string grad_Relu(G& c) {
  c.give(0, OpKind::ReluGrad, {c.x(0), c.dy});
  return "";
}
std::string grad_GeluGrad(G& c) {
  return notDifferentiable(c);
}
std::string grad_ReluGrad(G& c) {
  return notDifferentiable(c);
}
// y = x * keep / (1-p): dx = dy * keep / (1-p), i.e. the same dropout (same seed, salt) of dy
std::string grad_Dropout(G& c) {
  std::vector<int> operands{c.dy, c.x(1)};
  if (c.node.operands.size() > 2) operands.push_back(c.x(2)); // row0: the same rows of the mask
  c.give(0, OpKind::Dropout, operands, c.node.attrs);
  return "";
}

// ---- contractions ----

// y = op_a(a) · op_b(b) (op = transpose when ta/tb): d op_a(a) = dy · op_b(b)ᵀ, d op_b(b) =
// op_a(a)ᵀ · dy; a b shared by every batch of a gets the sum over batches: rows of op_a(a) and dy
// flattened.
std::string grad_MatMul(G& c) {
  int a = c.x(0), b = c.x(1);
  int64_t ta = attrInt(c.node.attrs, "ta"), tb = attrInt(c.node.attrs, "tb");
  int ra = c.type(a).rank(), rb = c.type(b).rank();
  bool sharedB = rb == 2 && ra > 2;
  if (c.wants(0)) {
    if (!ta) {
      c.give(0, OpKind::MatMul, {c.dy, b}, {{"ta", I(0)}, {"tb", I(!tb)}});
    } else if (!sharedB) { // a stored [K,M]: da = op_b(b) · dyᵀ
      c.give(0, OpKind::MatMul, {b, c.dy}, {{"ta", I(tb)}, {"tb", I(1)}});
    } else { // da = (dy · op_b(b)ᵀ)ᵀ: a 2-D b cannot be the left operand of a batched product
      int t = c.emit(OpKind::MatMul, {c.dy, b}, {{"ta", I(0)}, {"tb", I(!tb)}}, "da_t");
      std::vector<int64_t> perm;
      for (int d = 0; d < ra; ++d)
        perm.push_back(d);
      std::swap(perm[ra - 1], perm[ra - 2]);
      c.give(0, OpKind::Transpose, {t}, attrs1("perm", perm));
    }
  }
  if (c.wants(1)) {
    if (!sharedB) {
      if (!tb)
        c.give(1, OpKind::MatMul, {a, c.dy}, {{"ta", I(!ta)}, {"tb", I(0)}});
      else
        c.give(1, OpKind::MatMul, {c.dy, a}, {{"ta", I(1)}, {"tb", I(ta)}});
    } else {
      int rowsA = a; // op_a(a) as [rows, K]
      if (ta) {
        std::vector<int64_t> perm;
        for (int d = 0; d < ra; ++d)
          perm.push_back(d);
        std::swap(perm[ra - 1], perm[ra - 2]);
        rowsA = c.emit(OpKind::Transpose, {a}, attrs1("perm", perm), "a_t");
      }
      int64_t K = c.shape(rowsA).back(), N = c.shape(c.dy).back();
      rowsA =
          c.emit(OpKind::Reshape, {rowsA}, attrs1("shape", std::vector<int64_t>{-1, K}), "a_rows");
      int rowsDy =
          c.emit(OpKind::Reshape, {c.dy}, attrs1("shape", std::vector<int64_t>{-1, N}), "rows");
      if (!tb)
        c.give(1, OpKind::MatMul, {rowsA, rowsDy}, {{"ta", I(1)}, {"tb", I(0)}});
      else
        c.give(1, OpKind::MatMul, {rowsDy, rowsA}, {{"ta", I(1)}, {"tb", I(0)}});
    }
  }
  return "";
}

// y = x·Wᵀ + b: dx = dy·W, dW = dyᵀ·x (over all rows), db = Σ_rows dy
std::string grad_Linear(G& c) {
  int x = c.x(0), w = c.x(1);
  int rank = c.type(x).rank();
  int64_t K = c.shape(x).back(), N = c.shape(c.dy).back();
  auto rows = [&](int v, int64_t width, const char* what) {
    return rank == 2 ? v
                     : c.emit(OpKind::Reshape, {v},
                              attrs1("shape", std::vector<int64_t>{-1, width}), what);
  };
  int dyRows = (c.wants(1) || rank < 2) ? rows(c.dy, N, "rows") : -1; // (rows,N)
  if (c.wants(0)) {
    if (rank >= 2) {
      c.give(0, OpKind::MatMul, {c.dy, w}); // (...,N)·(N,K) -> (...,K)
    } else {
      int t = c.emit(OpKind::MatMul, {dyRows, w}, {}, "dx_rows");
      c.give(0, OpKind::Reshape, {t}, attrs1("shape", c.shape(x)));
    }
  }
  if (c.wants(1))
    c.give(1, OpKind::MatMul, {dyRows, rows(x, K, "x_rows")}, {{"ta", I(1)}}); // (N,K)
  if (c.wants(2)) {
    if (rank == 1) {
      c.pass(2, c.dy);
    } else {
      std::vector<int64_t> axes;
      for (int d = 0; d + 1 < rank; ++d)
        axes.push_back(d);
      c.give(2, OpKind::ReduceSum, {c.dy}, attrs1("axes", axes));
    }
  }
  return "";
}

// ---- normalisation, softmax, masks ----

// y = (x-μ)/σ · w + b: dx = (w·dy - mean(w·dy) - x̂·mean(w·dy·x̂))/σ, dw = Σ_rows dy·x̂, db = Σ_rows
// dy
std::string grad_LayerNorm(G& c) {
  Attrs eps = attrs1("eps", attrFloat(c.node.attrs, "eps"));
  if (c.wants(0)) c.give(0, OpKind::LayerNormGradX, {c.x(0), c.x(1), c.dy}, eps);
  if (c.wants(1)) c.give(1, OpKind::LayerNormGradW, {c.x(0), c.dy}, eps);
  if (c.wants(2)) {
    std::vector<int64_t> axes;
    for (int d = 0; d + 1 < c.type(c.dy).rank(); ++d)
      axes.push_back(d);
    if (axes.empty())
      c.pass(2, c.dy);
    else
      c.give(2, OpKind::ReduceSum, {c.dy}, attrs1("axes", axes));
  }
  return "";
}
std::string grad_LayerNormGradX(G& c) {
  return notDifferentiable(c);
}
std::string grad_LayerNormGradW(G& c) {
  return notDifferentiable(c);
}
// y = softmax(x): dx = y · (dy - Σ dy·y)   (needs y, not x; a fully masked row has y = 0, so dx =
// 0)
std::string grad_Softmax(G& c) {
  c.give(0, OpKind::SoftmaxGrad, {c.y(), c.dy});
  return "";
}
std::string grad_SoftmaxGrad(G& c) {
  return notDifferentiable(c);
}
// y = x where j <= i+offset, else -inf: dx = dy where kept, 0 where masked. The keep matrix
// (1 kept, 0 masked) is relu(causal_mask(ones)): one [Tq,Tk] constant, broadcast over the batch.
std::string grad_CausalMask(G& c) {
  const Shape& s = c.shape(c.x(0));
  std::vector<int64_t> qk{s[s.size() - 2], s.back()};
  int ones = c.emit(OpKind::Fill, {}, {{"shape", qk}, {"value", 1.0}}, "ones");
  int masked = c.emit(OpKind::CausalMask, {ones}, attrs1("offset", attrInt(c.node.attrs, "offset")),
                      "masked");
  int keep = c.emit(OpKind::Relu, {masked}, {}, "keep"); // (Tq,Tk) 1 or 0
  c.give(0, OpKind::MaskFill, {c.dy, keep}, attrs1("value", 0.0));
  return "";
}
// y = x where keep, else value: dx = dy where keep, else 0
std::string grad_MaskFill(G& c) {
  c.give(0, OpKind::MaskFill, {c.dy, c.x(1)}, attrs1("value", 0.0));
  return "";
}
std::string grad_PadMask(G& c) {
  return noGradient(c);
}

// ---- layout: the gradient is the inverse layout of dy ----

// y = reshape(x): dx = reshape(dy) back to x's shape
std::string grad_Reshape(G& c) {
  c.give(0, OpKind::Reshape, {c.dy}, attrs1("shape", c.shape(c.x(0))));
  return "";
}
// y = transpose(x, perm): dx = transpose(dy, perm⁻¹)
std::string grad_Transpose(G& c) {
  const auto& perm = attrInts(c.node.attrs, "perm");
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inverse[perm[i]] = int64_t(i);
  c.give(0, OpKind::Transpose, {c.dy}, attrs1("perm", inverse));
  return "";
}
// y = split_heads(x): dx = merge_heads(dy)
std::string grad_SplitHeads(G& c) {
  c.give(0, OpKind::MergeHeads, {c.dy});
  return "";
}
// y = merge_heads(x): dx = split_heads(dy) with x's head count
std::string grad_MergeHeads(G& c) {
  c.give(0, OpKind::SplitHeads, {c.dy}, attrs1("heads", c.shape(c.x(0))[1]));
  return "";
}
int normalAxis(int64_t axis, int rank) {
  return int(axis < 0 ? axis + rank : axis);
}
// y = x[start:end] on axis: dx = dy padded with zeros back to x's extent
std::string grad_Slice(G& c) {
  int axis = normalAxis(attrInt(c.node.attrs, "axis"), c.type(c.x(0)).rank());
  int64_t n = c.shape(c.x(0))[axis];
  c.give(0, OpKind::Pad, {c.dy},
         {{"axis", I(axis)},
          {"before", attrInt(c.node.attrs, "start")},
          {"after", n - attrInt(c.node.attrs, "end")}});
  return "";
}
// y = zeros ++ x ++ zeros on axis: dx = dy[before : before+n]
std::string grad_Pad(G& c) {
  int axis = normalAxis(attrInt(c.node.attrs, "axis"), c.type(c.x(0)).rank());
  int64_t before = attrInt(c.node.attrs, "before"), n = c.shape(c.x(0))[axis];
  c.give(0, OpKind::Slice, {c.dy}, {{"axis", I(axis)}, {"start", before}, {"end", before + n}});
  return "";
}
// y = concat(x_0, x_1, ...) on axis: dx_k = dy[offset_k : offset_k + n_k]
std::string grad_Concat(G& c) {
  int axis = normalAxis(attrInt(c.node.attrs, "axis"), c.type(c.x(0)).rank());
  int64_t offset = 0;
  for (int k = 0; k < c.numOperands(); ++k) {
    int64_t n = c.shape(c.x(k))[axis];
    if (c.wants(k))
      c.give(k, OpKind::Slice, {c.dy}, {{"axis", I(axis)}, {"start", offset}, {"end", offset + n}});
    offset += n;
  }
  return "";
}
// y = x[i] (layer i of a stack): dx = stack over layers of their dy (zeros for unread layers); the
// driver builds that one stack per stacked value, never a full-size scatter per layer
std::string grad_Select(G& c) {
  c.deferToStack(0, attrInt(c.node.attrs, "index"));
  return "";
}
// y = stack(x_0, x_1, ...): dx_k = dy[k]
std::string grad_Stack(G& c) {
  for (int k = 0; k < c.numOperands(); ++k)
    if (c.wants(k)) c.give(k, OpKind::Select, {c.dy}, attrs1("index", I(k)));
  return "";
}
// y = broadcast(x): dx = dy reduced to x's shape
std::string grad_Broadcast(G& c) {
  c.giveReduced(0, c.dy);
  return "";
}

// ---- reductions ----

// The result's shape with the reduced axes kept as 1 (to broadcast dy back over them).
std::vector<int64_t> keptShape(G& c) {
  std::vector<int64_t> s = c.shape(c.x(0));
  for (int64_t ax : attrInts(c.node.attrs, "axes"))
    s[normalAxis(ax, int(s.size()))] = 1;
  return s;
}
int dyKept(G& c, int dy) {
  if (attrInt(c.node.attrs, "keepdims")) return dy;
  return c.emit(OpKind::Reshape, {dy}, attrs1("shape", keptShape(c)), "kept");
}
// y = Σ_axes x: dx = dy broadcast over the reduced axes
std::string grad_ReduceSum(G& c) {
  c.give(0, OpKind::Broadcast, {dyKept(c, c.dy)}, attrs1("shape", c.shape(c.x(0))));
  return "";
}
// y = mean_axes x: dx = dy / n broadcast over the reduced axes
std::string grad_ReduceMean(G& c) {
  double n = double(c.type(c.x(0)).numel()) / double(std::max<int64_t>(1, c.type(c.y()).numel()));
  int scaled = c.emit(OpKind::Scale, {c.dy}, attrs1("s", 1.0 / n), "mean");
  c.give(0, OpKind::Broadcast, {dyKept(c, scaled)}, attrs1("shape", c.shape(c.x(0))));
  return "";
}
// y = max_axes x: dx = dy · [x == y] / #ties (torch.amax's even split), with [x == y] built as
// 1 - relu_grad(y - x, 1): y - x is 0 exactly at the maxima and positive elsewhere
std::string grad_ReduceMax(G& c) {
  int x = c.x(0);
  const Shape& xs = c.shape(x);
  int yKept = dyKept(c, c.y());
  int gap = c.emit(OpKind::Sub, {yKept, x}, {}, "gap");                         // (x) >= 0
  int ones = c.emit(OpKind::Fill, {}, {{"shape", xs}, {"value", 1.0}}, "ones"); // (x)
  int below = c.emit(OpKind::ReluGrad, {gap, ones}, {}, "below");               // 1 where x < max
  int isMax = c.emit(OpKind::Sub, {ones, below}, {}, "is_max");                 // 1 at the maxima
  Attrs sumAttrs{{"axes", attrInts(c.node.attrs, "axes")}, {"keepdims", I(1)}};
  int ties = c.emit(OpKind::ReduceSum, {isMax}, sumAttrs, "ties");
  int share = c.emit(OpKind::Div, {isMax, ties}, {}, "share");
  c.give(0, OpKind::Mul, {share, dyKept(c, c.dy)});
  return "";
}

// ---- embeddings, positions, loss, constants ----

// y[n] = table[ids[n]]: dtable[v] = Σ_{n: ids[n] = v} dy[n]   (scatter-add of rows)
std::string grad_Embedding(G& c) {
  c.give(1, OpKind::EmbeddingGrad, {c.x(0), c.dy}, attrs1("rows", c.shape(c.x(1))[0]));
  return "";
}
std::string grad_EmbeddingGrad(G& c) {
  return notDifferentiable(c);
}
std::string grad_Sinusoidal(G& c) {
  return noGradient(c);
}
// y = mean_rows -log softmax(z)[t]: dz = (softmax(z) - onehot(t)) · dy / count (0 on ignored rows)
std::string grad_CrossEntropy(G& c) {
  c.give(0, OpKind::CrossEntropyGrad, {c.x(0), c.x(1), c.dy}, c.node.attrs);
  return "";
}
std::string grad_CrossEntropyGrad(G& c) {
  return notDifferentiable(c);
}
std::string grad_Fill(G& c) {
  return noGradient(c);
}

// ---- today's Transformer (issue #20) ----

// y = x·r·w, r = (mean(x²)+eps)^-½: dx = r·(g - x̂·mean(g·x̂)) with g = w·dy, x̂ = x·r (the mean term
// is -r³·x/C·Σ g·x); dw = Σ_rows dy·x̂
std::string grad_RMSNorm(G& c) {
  Attrs eps = attrs1("eps", attrFloat(c.node.attrs, "eps"));
  if (c.wants(0)) c.give(0, OpKind::RMSNormGradX, {c.x(0), c.x(1), c.dy}, eps);
  if (c.wants(1)) c.give(1, OpKind::RMSNormGradW, {c.x(0), c.dy}, eps);
  return "";
}
std::string grad_RMSNormGradX(G& c) {
  return notDifferentiable(c);
}
std::string grad_RMSNormGradW(G& c) {
  return notDifferentiable(c);
}
// y = x·σ(x): dx = dy·σ(x)·(1 + x·(1-σ(x)))
std::string grad_Silu(G& c) {
  c.give(0, OpKind::SiluGrad, {c.x(0), c.dy});
  return "";
}
std::string grad_SiluGrad(G& c) {
  return notDifferentiable(c);
}
// y = silu(g)·u: dg = silu'(g)·(dy·u) = silu_grad(g, dy·u), du = silu(g)·dy = swiglu(g, dy)
std::string grad_SwiGLU(G& c) {
  if (c.wants(0)) {
    int dyu = c.emit(OpKind::Mul, {c.dy, c.x(1)}, {}, "dy_u");
    c.give(0, OpKind::SiluGrad, {c.x(0), dyu});
  }
  if (c.wants(1)) c.give(1, OpKind::SwiGLU, {c.x(0), c.dy});
  return "";
}
// y = R(p)·x, a rotation per pair: dx = R(p)ᵀ·dy = R(-p)·dy, the same rope with inverse flipped
std::string grad_Rope(G& c) {
  Attrs a = c.node.attrs;
  a["inverse"] = int64_t(1 - attrInt(a, "inverse"));
  std::vector<int> ops{c.dy};
  if (c.numOperands() > 1) ops.push_back(c.x(1));
  c.give(0, OpKind::Rope, ops, a);
  return "";
}
// einsum never reaches a gradient rule: differentiate() runs lower-einsum first, so its gradient is
// that of the transposes, reshapes, matmuls and sums it becomes.
std::string grad_Einsum(G& c) {
  return "einsum is rewritten by lower-einsum before autodiff (passes/lower_einsum.cpp)";
}
// y = x + bias (a constant): dx = dy
std::string grad_Alibi(G& c) {
  c.pass(0, c.dy);
  return "";
}

// ---- generation ops: they run in decode steps, which are never differentiated ----
std::string notDecoded(G& c) {
  return fmt::format("not differentiable: '{}' belongs to decode steps (passes/decode_step.cpp)",
                     opName(c.node.kind));
}
std::string grad_DynamicSlice(G& c) {
  return notDecoded(c);
}
std::string grad_DynamicUpdateSlice(G& c) {
  return notDecoded(c);
}
std::string grad_CausalMaskAt(G& c) {
  return notDecoded(c);
}
std::string grad_CacheMatMul(G& c) {
  return notDecoded(c);
}

// ---- optimizer ops: they consume gradients, nothing differentiates through them ----
std::string grad_AdamWMoment1(G& c) {
  return notDifferentiable(c);
}
std::string grad_AdamWMoment2(G& c) {
  return notDifferentiable(c);
}
std::string grad_AdamWUpdate(G& c) {
  return notDifferentiable(c);
}
std::string grad_GlobalNorm(G& c) {
  return notDifferentiable(c);
}
std::string grad_ClipScale(G& c) {
  return notDifferentiable(c);
}

// ---- fused kernels: made after autodiff (passes/fuse.cpp), never differentiated ----
std::string grad_ScaleMaskSoftmax(G& c) {
  return notDifferentiable(c);
}
std::string grad_MaskedSoftmaxGrad(G& c) {
  return notDifferentiable(c);
}
std::string grad_LinearGelu(G& c) {
  return notDifferentiable(c);
}
std::string grad_MatMulGeluGrad(G& c) {
  return notDifferentiable(c);
}
std::string grad_EmbeddingGradAdd(G& c) {
  return notDifferentiable(c);
}

/// A fused gradient op's result packs its first `count` operands' gradients flat, in operand
/// order: each wanted one is its slice, reshaped (views: no copy).
static void givePackedGradients(G& c, int packed, int count) {
  int64_t at = 0;
  for (int k = 0; k < count; ++k) {
    int64_t n = c.type(c.x(k)).numel();
    if (c.wants(k)) {
      int part = c.emit(OpKind::Slice, {packed}, {{"axis", I(0)}, {"start", at}, {"end", at + n}},
                        "part" + std::to_string(k));
      c.give(k, OpKind::Reshape, {part}, attrs1("shape", c.shape(c.x(k))));
    }
    at += n;
  }
}

// ---- fused attention (passes/fuse_attention.cpp makes it before autodiff) ----
// y = attention(q, k, v, keep?, seed?): one attention_grad recomputes the weights block by block
// (no [...,Tq,Tk] buffer) and returns [dq, dk, dv] packed flat; each operand's gradient is its
// slice, reshaped. One op rather than three: dq and dk/dv need the same recomputed scores and
// dP = dout·vᵀ, so three ops would compute them three times.
std::string grad_Attention(G& c) {
  std::vector<int> operands{c.x(0), c.x(1), c.x(2), c.y(), c.dy};
  for (size_t k = 3; k < c.node.operands.size(); ++k)
    operands.push_back(c.x(int(k)));
  int packed = c.emit(OpKind::AttentionGrad, operands, c.node.attrs, "qkv");
  givePackedGradients(c, packed, 3);
  return "";
}
std::string grad_AttentionGrad(G& c) {
  return notDifferentiable(c);
}

// ---- fused LM head (passes/fuse_lm_head.cpp makes it before autodiff) ----
// y = cross_entropy(x·wᵀ, t): dlogits = (softmax - onehot)·dy/count; dx = dlogits·w,
// dw = dlogitsᵀ·x. One linear_cross_entropy_grad recomputes the logits chunk by chunk and returns
// [dx, dw] packed flat; each operand's gradient is its slice, reshaped (views: no copy).
std::string grad_LinearCrossEntropy(G& c) {
  int packed =
      c.emit(OpKind::LinearCrossEntropyGrad, {c.x(0), c.x(1), c.x(2), c.dy}, c.node.attrs, "xw");
  givePackedGradients(c, packed, 2);
  return "";
}
std::string grad_LinearCrossEntropyGrad(G& c) {
  return notDifferentiable(c);
}

// Quantized weights are for inference (passes/quantize.cpp runs after everything that trains).
std::string grad_Dequantize(G& c) {
  return notDifferentiable(c);
}
std::string grad_QMatMul(G& c) {
  return notDifferentiable(c);
}
std::string grad_QLinear(G& c) {
  return notDifferentiable(c);
}

// ---- collectives: inserted after autodiff (passes/data_parallel.cpp), never differentiated ----
std::string grad_AllReduce(G& c) {
  return notDifferentiable(c);
}
std::string grad_ReduceScatter(G& c) {
  return notDifferentiable(c);
}
std::string grad_AllGather(G& c) {
  return notDifferentiable(c);
}

constexpr GradRule kRules[] = {
#define OP(E, NAME, OPERANDS, ATTRS, CAT, INPLACE) &grad_##E,
#include "ir/ops.def"
#undef OP
};
static_assert(sizeof(kRules) / sizeof(kRules[0]) == kNumOpKinds);

} // namespace

GradRule gradRule(OpKind kind) {
  return kRules[static_cast<size_t>(kind)];
}

} // namespace gptc
