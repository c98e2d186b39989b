// Shape rules: one function per op kind, each computing the result type from the operand types and
// attributes, or saying in one sentence why the operands do not fit. The table at the bottom is
// indexed by OpKind, so an op without a rule does not compile.
#include "ir/einsum.h"
#include "ir/fused_ops.h"
#include "ir/graph.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {
namespace {

using Types = std::vector<TensorType>;
using R = Expected<TensorType>;

Diag err(std::string msg) { return Diag{{}, std::move(msg)}; }
std::string ts(const TensorType& t) { return typeToString(t); }

bool isF32(const TensorType& t) { return t.dtype == DType::f32; }

R needF32(const TensorType& t, const char* what) {
  if (!isF32(t)) return err(fmt::format("{} must be f32, got {}", what, ts(t)));
  return t;
}

/// numpy broadcasting of two shapes (trailing dims aligned; 1 stretches).
R broadcast2(const TensorType& a, const TensorType& b) {
  if (a.dtype != b.dtype) return err(fmt::format("dtypes differ: {} and {}", ts(a), ts(b)));
  size_t n = std::max(a.shape.size(), b.shape.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    size_t oa = n - a.shape.size(), ob = n - b.shape.size();
    int64_t da = i < oa ? 1 : a.shape[i - oa];
    int64_t db = i < ob ? 1 : b.shape[i - ob];
    if (da != db && da != 1 && db != 1)
      return err(fmt::format("shapes {} and {} do not broadcast (axis {}: {} vs {})", ts(a), ts(b),
                             int(i) - int(n), da, db));
    out[i] = da == 1 ? db : da;
  }
  return TensorType{a.dtype, out};
}

/// Normalises a possibly negative axis; -1 when out of range.
int normAxis(int64_t axis, int rank) {
  if (axis < 0) axis += rank;
  return axis >= 0 && axis < rank ? int(axis) : -1;
}

R arith(const Types& t, const Attrs&) {
  R r = broadcast2(t[0], t[1]);
  if (!r) return r;
  return needF32(*r, "arithmetic operands");
}
R unaryF32(const Types& t, const Attrs&) { return needF32(t[0], "the operand"); }
R gradPair(const Types& t, const Attrs&) {
  if (!isF32(t[0]) || t[0] != t[1])
    return err(fmt::format("x and dy must be the same f32 type, got {} and {}", ts(t[0]), ts(t[1])));
  return t[0];
}

R infer_Add(const Types& t, const Attrs& a) { return arith(t, a); }
R infer_Sub(const Types& t, const Attrs& a) { return arith(t, a); }
R infer_Mul(const Types& t, const Attrs& a) { return arith(t, a); }
R infer_Div(const Types& t, const Attrs& a) { return arith(t, a); }
R infer_Scale(const Types& t, const Attrs& a) { return unaryF32(t, a); }
R infer_Gelu(const Types& t, const Attrs& a) { return unaryF32(t, a); }
R infer_Relu(const Types& t, const Attrs& a) { return unaryF32(t, a); }
R infer_GeluGrad(const Types& t, const Attrs& a) { return gradPair(t, a); }
R infer_ReluGrad(const Types& t, const Attrs& a) { return gradPair(t, a); }

R infer_Dropout(const Types& t, const Attrs& a) {
  if (t[1].dtype != DType::i32 || t[1].rank() != 0)
    return err(fmt::format("dropout's seed must be an i32[] scalar, got {}", ts(t[1])));
  if (t.size() > 2 && (t[2].dtype != DType::i32 || t[2].rank() != 0))
    return err(fmt::format("dropout's row0 must be an i32[] scalar, got {}", ts(t[2])));
  double p = attrFloat(a, "p");
  if (!(p >= 0 && p < 1)) return err(fmt::format("dropout p must be in [0, 1), got {}", p));
  return needF32(t[0], "x");
}

R infer_MatMul(const Types& t, const Attrs& a) {
  const TensorType &A = t[0], &B = t[1];
  if (!isF32(A) || !isF32(B)) return err("matmul operands must be f32");
  if (A.rank() < 2 || B.rank() < 2)
    return err(fmt::format("matmul needs operands of rank >= 2, got {} and {}", ts(A), ts(B)));
  bool ta = attrInt(a, "ta"), tb = attrInt(a, "tb");
  int ra = A.rank(), rb = B.rank();
  int64_t M = ta ? A.shape[ra - 1] : A.shape[ra - 2];
  int64_t K = ta ? A.shape[ra - 2] : A.shape[ra - 1];
  int64_t Kb = tb ? B.shape[rb - 1] : B.shape[rb - 2];
  int64_t N = tb ? B.shape[rb - 2] : B.shape[rb - 1];
  if (K != Kb)
    return err(fmt::format("matmul contraction dims differ: {} has K={} but {} has K={}", ts(A), K,
                           ts(B), Kb));
  Shape batchA(A.shape.begin(), A.shape.end() - 2), batchB(B.shape.begin(), B.shape.end() - 2);
  if (!batchB.empty() && batchA != batchB)
    return err(fmt::format("matmul batch dims differ: {} vs {} (b must be 2-D or match a's batch)",
                           shapeToString(batchA), shapeToString(batchB)));
  Shape out = batchA;
  out.push_back(M);
  out.push_back(N);
  return TensorType{DType::f32, out};
}

R infer_Linear(const Types& t, const Attrs&) {
  const TensorType &x = t[0], &w = t[1], &b = t[2];
  if (!isF32(x) || !isF32(w) || !isF32(b)) return err("linear operands must be f32");
  if (x.rank() < 1 || w.rank() != 2 || b.rank() != 1)
    return err(fmt::format("linear wants x[...,K], w[N,K], b[N], got {}, {}, {}", ts(x), ts(w), ts(b)));
  if (x.shape.back() != w.shape[1])
    return err(fmt::format("linear: x has K={} but w {} has K={}", x.shape.back(), ts(w), w.shape[1]));
  if (b.shape[0] != w.shape[0])
    return err(fmt::format("linear: bias {} does not match w's N={}", ts(b), w.shape[0]));
  Shape out = x.shape;
  out.back() = w.shape[0];
  return TensorType{DType::f32, out};
}

R lastAxisParams(const TensorType& x, const TensorType& w, const TensorType& b, const char* op) {
  if (!isF32(x) || x.rank() < 1) return err(fmt::format("{}: x must be f32 of rank >= 1", op));
  Shape c{x.shape.back()};
  if (w.shape != c || b.shape != c || !isF32(w) || !isF32(b))
    return err(fmt::format("{}: weight and bias must be f32[{}] to match x {}, got {} and {}", op,
                           x.shape.back(), ts(x), ts(w), ts(b)));
  return x;
}

R infer_LayerNorm(const Types& t, const Attrs&) { return lastAxisParams(t[0], t[1], t[2], "layernorm"); }
R infer_LayerNormGradX(const Types& t, const Attrs&) {
  if (t[2] != t[0]) return err("layernorm_grad_x: dy must have x's type");
  R r = lastAxisParams(t[0], t[1], t[1], "layernorm_grad_x");
  return r;
}
R infer_LayerNormGradW(const Types& t, const Attrs&) {
  if (t[1] != t[0] || !isF32(t[0]) || t[0].rank() < 1)
    return err("layernorm_grad_w: x and dy must be the same f32 type");
  return TensorType{DType::f32, {t[0].shape.back()}};
}
R infer_Softmax(const Types& t, const Attrs&) {
  if (t[0].rank() < 1) return err("softmax needs rank >= 1");
  return needF32(t[0], "x");
}
R infer_SoftmaxGrad(const Types& t, const Attrs& a) { return gradPair(t, a); }
R infer_CausalMask(const Types& t, const Attrs&) {
  if (t[0].rank() < 2) return err(fmt::format("causal_mask needs rank >= 2, got {}", ts(t[0])));
  return needF32(t[0], "x");
}
R infer_MaskFill(const Types& t, const Attrs&) {
  TensorType keepAsF32{DType::f32, t[1].shape};
  R r = broadcast2(t[0], keepAsF32);
  if (!r) return r;
  if (r->shape != t[0].shape)
    return err(fmt::format("mask_fill: keep {} must broadcast to x {}", ts(t[1]), ts(t[0])));
  return needF32(t[0], "x");
}
R infer_PadMask(const Types& t, const Attrs&) {
  if (t[0].dtype != DType::i32) return err(fmt::format("pad_mask needs i32 ids, got {}", ts(t[0])));
  return TensorType{DType::f32, t[0].shape};
}

R infer_Reshape(const Types& t, const Attrs& a) {
  Shape s = attrInts(a, "shape");
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) return err("reshape: at most one -1 in shape");
      infer = int(i);
    } else if (s[i] <= 0) {
      return err(fmt::format("reshape: bad dim {} in {}", s[i], shapeToString(s)));
    } else if (__builtin_mul_overflow(known, s[i], &known)) {
      return err(fmt::format("reshape: {} has too many elements", shapeToString(s)));
    }
  }
  int64_t n = t[0].numel();
  if (infer >= 0) {
    if (known == 0 || n % known) return err(fmt::format("reshape: cannot infer -1 for {} elements", n));
    s[infer] = n / known;
  }
  if (numelOf(s) != n)
    return err(fmt::format("reshape: {} has {} elements but {} has {}", ts(t[0]), n, shapeToString(s),
                           numelOf(s)));
  return TensorType{t[0].dtype, s};
}

R infer_Transpose(const Types& t, const Attrs& a) {
  const auto& perm = attrInts(a, "perm");
  if (int(perm.size()) != t[0].rank())
    return err(fmt::format("transpose: perm has {} entries for rank {}", perm.size(), t[0].rank()));
  std::vector<bool> seen(perm.size());
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= t[0].rank() || seen[p]) return err("transpose: perm is not a permutation");
    seen[p] = true;
    out.push_back(t[0].shape[p]);
  }
  return TensorType{t[0].dtype, out};
}

R infer_SplitHeads(const Types& t, const Attrs& a) {
  int64_t h = attrInt(a, "heads");
  const TensorType& x = t[0];
  if (x.rank() != 3) return err(fmt::format("split_heads wants [B,T,C], got {}", ts(x)));
  if (h <= 0 || x.shape[2] % h)
    return err(fmt::format("split_heads: C={} is not divisible by heads={}", x.shape[2], h));
  return TensorType{x.dtype, {x.shape[0], h, x.shape[1], x.shape[2] / h}};
}
R infer_MergeHeads(const Types& t, const Attrs&) {
  const TensorType& x = t[0];
  if (x.rank() != 4) return err(fmt::format("merge_heads wants [B,H,T,D], got {}", ts(x)));
  return TensorType{x.dtype, {x.shape[0], x.shape[2], x.shape[1] * x.shape[3]}};
}

R infer_Slice(const Types& t, const Attrs& a) {
  int axis = normAxis(attrInt(a, "axis"), t[0].rank());
  if (axis < 0) return err(fmt::format("slice: axis {} out of range for {}", attrInt(a, "axis"), ts(t[0])));
  int64_t start = attrInt(a, "start"), end = attrInt(a, "end");
  if (start < 0 || end > t[0].shape[axis] || start >= end)
    return err(fmt::format("slice: [{}:{}] is empty or outside axis {} of size {}", start, end, axis,
                           t[0].shape[axis]));
  TensorType out = t[0];
  out.shape[axis] = end - start;
  return out;
}
R infer_Pad(const Types& t, const Attrs& a) {
  int axis = normAxis(attrInt(a, "axis"), t[0].rank());
  if (axis < 0) return err("pad: axis out of range");
  if (attrInt(a, "before") < 0 || attrInt(a, "after") < 0) return err("pad: negative padding");
  TensorType out = t[0];
  out.shape[axis] += attrInt(a, "before") + attrInt(a, "after");
  return out;
}
R infer_Concat(const Types& t, const Attrs& a) {
  int axis = normAxis(attrInt(a, "axis"), t[0].rank());
  if (axis < 0) return err("concat: axis out of range");
  TensorType out = t[0];
  for (size_t i = 1; i < t.size(); ++i) {
    Shape s = t[i].shape;
    if (t[i].dtype != out.dtype || int(s.size()) != out.rank())
      return err(fmt::format("concat: operand {} is {} but operand 0 is {}", i, ts(t[i]), ts(t[0])));
    for (int d = 0; d < out.rank(); ++d)
      if (d != axis && s[d] != t[0].shape[d])
        return err(fmt::format("concat: operand {} is {}, which differs from {} off axis {}", i,
                               ts(t[i]), ts(t[0]), axis));
    out.shape[axis] += s[axis];
  }
  return out;
}
R infer_Select(const Types& t, const Attrs& a) {
  int64_t i = attrInt(a, "index");
  if (t[0].rank() < 1 || i < 0 || i >= t[0].shape[0])
    return err(fmt::format("select: index {} outside axis 0 of {}", i, ts(t[0])));
  return TensorType{t[0].dtype, Shape(t[0].shape.begin() + 1, t[0].shape.end())};
}
R infer_Stack(const Types& t, const Attrs&) {
  for (size_t i = 1; i < t.size(); ++i)
    if (t[i] != t[0]) return err(fmt::format("stack: operand {} is {} but operand 0 is {}", i, ts(t[i]), ts(t[0])));
  Shape s = t[0].shape;
  s.insert(s.begin(), int64_t(t.size()));
  return TensorType{t[0].dtype, s};
}
R infer_Broadcast(const Types& t, const Attrs& a) {
  TensorType target{t[0].dtype, attrInts(a, "shape")};
  for (int64_t d : target.shape)
    if (d <= 0) return err(fmt::format("broadcast: target {} has a dim < 1", shapeToString(target.shape)));
  R r = broadcast2(t[0], target);
  if (!r) return r;
  if (r->shape != target.shape)
    return err(fmt::format("broadcast: {} does not broadcast to {}", ts(t[0]), shapeToString(target.shape)));
  return target;
}

R reduce(const Types& t, const Attrs& a, const char* op) {
  if (!isF32(t[0])) return err(fmt::format("{} needs f32", op));
  std::vector<bool> reduced(t[0].rank());
  for (int64_t ax : attrInts(a, "axes")) {
    int n = normAxis(ax, t[0].rank());
    if (n < 0 || reduced[n]) return err(fmt::format("{}: bad or repeated axis {} for {}", op, ax, ts(t[0])));
    reduced[n] = true;
  }
  bool keep = attrInt(a, "keepdims");
  Shape out;
  for (int d = 0; d < t[0].rank(); ++d) {
    if (!reduced[d]) out.push_back(t[0].shape[d]);
    else if (keep) out.push_back(1);
  }
  return TensorType{DType::f32, out};
}
R infer_ReduceSum(const Types& t, const Attrs& a) { return reduce(t, a, "reduce_sum"); }
R infer_ReduceMean(const Types& t, const Attrs& a) { return reduce(t, a, "reduce_mean"); }
R infer_ReduceMax(const Types& t, const Attrs& a) { return reduce(t, a, "reduce_max"); }

R infer_Embedding(const Types& t, const Attrs&) {
  if (t[0].dtype != DType::i32) return err(fmt::format("embedding ids must be i32, got {}", ts(t[0])));
  if (t[1].rank() != 2 || !isF32(t[1])) return err(fmt::format("embedding table must be f32[V,C], got {}", ts(t[1])));
  Shape s = t[0].shape;
  s.push_back(t[1].shape[1]);
  return TensorType{DType::f32, s};
}
R infer_EmbeddingGrad(const Types& t, const Attrs& a) {
  if (t[0].dtype != DType::i32) return err("embedding_grad ids must be i32");
  Shape want = t[0].shape;
  if (t[1].rank() != t[0].rank() + 1 ||
      !std::equal(want.begin(), want.end(), t[1].shape.begin()))
    return err(fmt::format("embedding_grad: dy {} does not match ids {}", ts(t[1]), ts(t[0])));
  if (attrInt(a, "rows") <= 0) return err("embedding_grad: rows must be positive");
  return TensorType{DType::f32, {attrInt(a, "rows"), t[1].shape.back()}};
}
R infer_Sinusoidal(const Types&, const Attrs& a) {
  int64_t rows = attrInt(a, "rows"), dim = attrInt(a, "dim");
  if (rows <= 0 || dim <= 0 || dim % 2) return err("sinusoidal: rows > 0 and an even dim > 0 needed");
  return TensorType{DType::f32, {rows, dim}};
}
R xentCheck(const TensorType& logits, const TensorType& targets, const Attrs& a) {
  if (!isF32(logits) || logits.rank() < 1) return err("cross_entropy: logits must be f32[...,V]");
  if (targets.dtype != DType::i32) return err(fmt::format("cross_entropy: targets must be i32, got {}", ts(targets)));
  Shape rows(logits.shape.begin(), logits.shape.end() - 1);
  if (rows != targets.shape)
    return err(fmt::format("cross_entropy: targets {} do not match logits {}", ts(targets), ts(logits)));
  int64_t classes = attrInt(a, "classes");
  if (classes < 0 || classes > logits.shape.back())
    return err(fmt::format("cross_entropy: classes={} outside 0..{}", classes, logits.shape.back()));
  return TensorType{DType::f32, {}};
}
R infer_CrossEntropy(const Types& t, const Attrs& a) { return xentCheck(t[0], t[1], a); }
R infer_CrossEntropyGrad(const Types& t, const Attrs& a) {
  R r = xentCheck(t[0], t[1], a);
  if (!r) return r;
  if (t[2] != TensorType{DType::f32, {}}) return err("cross_entropy_grad: dloss must be f32[]");
  return t[0];
}
R infer_Fill(const Types&, const Attrs& a) {
  for (int64_t d : attrInts(a, "shape"))
    if (d <= 0) return err("fill: dims must be positive");
  return TensorType{DType::f32, attrInts(a, "shape")};
}

// ---- optimizer (appended by the autodiff/optimizer owner; see passes/optimizer.cpp) ----
R momentRule(const Types& t, const Attrs& a, const char* op) {
  if (!isF32(t[0]) || t[0] != t[1])
    return err(fmt::format("{}: moment and gradient must be the same f32 type, got {} and {}", op,
                           ts(t[0]), ts(t[1])));
  if (t.size() > 2 && t[2] != TensorType{DType::f32, {}})
    return err(fmt::format("{}: clip must be f32[] (clip_scale's result), got {}", op, ts(t[2])));
  double beta = attrFloat(a, "beta");
  if (!(beta >= 0 && beta < 1)) return err(fmt::format("{}: beta must be in [0, 1), got {}", op, beta));
  return t[0];
}
// ---- generation ----
R scalarI32(const TensorType& t, const char* op, const char* what) {
  if (t.dtype != DType::i32 || t.rank() != 0)
    return err(fmt::format("{}: {} must be an i32[] scalar, got {}", op, what, ts(t)));
  return t;
}
R infer_DynamicSlice(const Types& t, const Attrs& a) {
  if (R s = scalarI32(t[1], "dynamic_slice", "start"); !s) return s;
  int axis = normAxis(attrInt(a, "axis"), t[0].rank());
  if (axis < 0)
    return err(
        fmt::format("dynamic_slice: axis {} out of range for {}", attrInt(a, "axis"), ts(t[0])));
  int64_t size = attrInt(a, "size");
  if (size < 1 || size > t[0].shape[axis])
    return err(fmt::format("dynamic_slice: size {} must be in [1, {}] for axis {} of {}", size,
                           t[0].shape[axis], axis, ts(t[0])));
  Shape out = t[0].shape;
  out[axis] = size;
  return needF32(TensorType{t[0].dtype, out}, "dynamic_slice's x");
}
R infer_DynamicUpdateSlice(const Types& t, const Attrs& a) {
  if (R s = scalarI32(t[2], "dynamic_update_slice", "start"); !s) return s;
  const TensorType &x = t[0], &u = t[1];
  int axis = normAxis(attrInt(a, "axis"), x.rank());
  if (axis < 0)
    return err(fmt::format("dynamic_update_slice: axis {} out of range for {}", attrInt(a, "axis"),
                           ts(x)));
  bool ok = isF32(x) && isF32(u) && u.rank() == x.rank() && u.shape[axis] <= x.shape[axis];
  for (int d = 0; ok && d < x.rank(); ++d)
    ok = d == axis || u.shape[d] == x.shape[d];
  if (!ok)
    return err(fmt::format("dynamic_update_slice: update {} must be f32 with x {}'s dims except "
                           "axis {} (at most {})",
                           ts(u), ts(x), axis, x.rank() ? x.shape[axis] : 0));
  return x;
}
R infer_CausalMaskAt(const Types& t, const Attrs&) {
  if (t[0].rank() < 2) return err(fmt::format("causal_mask_at needs rank >= 2, got {}", ts(t[0])));
  if (R s = scalarI32(t[1], "causal_mask_at", "pos"); !s) return s;
  return needF32(t[0], "x");
}
R infer_CacheMatMul(const Types& t, const Attrs&) {
  const TensorType &a = t[0], &c = t[1];
  if (R s = scalarI32(t[2], "cache_matmul", "pos"); !s) return s;
  int r = a.rank();
  bool ok = isF32(a) && isF32(c) && r >= 2 && c.rank() == r && a.shape[r - 1] == c.shape[r - 1] &&
            a.shape[r - 2] <= c.shape[r - 2];
  for (int d = 0; ok && d < r - 2; ++d)
    ok = a.shape[d] == c.shape[d];
  if (!ok)
    return err(fmt::format("cache_matmul wants a f32[...,T,D] and cache f32[...,ctx,D] with the "
                           "same leading dims and T <= ctx, got {} and {}",
                           ts(a), ts(c)));
  Shape out = a.shape;
  out[r - 1] = c.shape[r - 2];
  return TensorType{DType::f32, out};
}

// ---- today's Transformer (issue #20) ----
R infer_RMSNorm(const Types& t, const Attrs&) { return lastAxisParams(t[0], t[1], t[1], "rmsnorm"); }
R infer_RMSNormGradX(const Types& t, const Attrs&) {
  if (t[2] != t[0]) return err("rmsnorm_grad_x: dy must have x's type");
  return lastAxisParams(t[0], t[1], t[1], "rmsnorm_grad_x");
}
R infer_RMSNormGradW(const Types& t, const Attrs&) {
  if (t[1] != t[0] || !isF32(t[0]) || t[0].rank() < 1)
    return err("rmsnorm_grad_w: x and dy must be the same f32 type");
  return TensorType{DType::f32, {t[0].shape.back()}};
}
R infer_Silu(const Types& t, const Attrs& a) { return unaryF32(t, a); }
R infer_SiluGrad(const Types& t, const Attrs& a) { return gradPair(t, a); }
R infer_SwiGLU(const Types& t, const Attrs&) {
  if (!isF32(t[0]) || t[0] != t[1])
    return err(fmt::format("swiglu: g and u must be the same f32 type, got {} and {}", ts(t[0]), ts(t[1])));
  return t[0];
}
R infer_Rope(const Types& t, const Attrs& a) {
  const TensorType& x = t[0];
  if (!isF32(x) || x.rank() < 2 || x.shape.back() % 2)
    return err(fmt::format("rope: x must be f32[..., T, D] with an even D, got {}", ts(x)));
  if (t.size() > 1)
    if (R s = scalarI32(t[1], "rope", "pos"); !s) return s;
  if (!(attrFloat(a, "theta") > 1)) return err(fmt::format("rope: theta must be > 1, got {}", attrFloat(a, "theta")));
  for (const char* flag : {"interleaved", "inverse"})
    if (attrInt(a, flag) != 0 && attrInt(a, flag) != 1)
      return err(fmt::format("rope: {} must be 0 or 1, got {}", flag, attrInt(a, flag)));
  return x;
}
R infer_Einsum(const Types& t, const Attrs& a) {
  Expected<EinsumSpec> s = parseEinsum(attrString(a, "spec"), t);
  if (!s) return s.error();
  return TensorType{DType::f32, s->outputShape()};
}
R infer_Alibi(const Types& t, const Attrs&) {
  if (t[0].rank() < 3)
    return err(fmt::format("alibi needs scores [..., heads, Tq, Tk] of rank >= 3, got {}", ts(t[0])));
  return needF32(t[0], "x");
}

/// A quantized weight q[..., K]: bf16 without a scale, or i8 with scale f32[..., K/block] (same
/// leading dims, block dividing K). "" or why not.
std::string checkQuantized(const TensorType& q, const TensorType* scale, const char* op) {
  if (q.dtype == DType::bf16)
    return scale ? fmt::format("{}: a bf16 weight takes no scale", op) : "";
  if (q.dtype != DType::i8) return fmt::format("{}: the weight must be bf16 or i8, got {}", op, ts(q));
  if (!scale) return fmt::format("{}: an i8 weight needs its scale operand", op);
  const TensorType& s = *scale;
  if (s.dtype != DType::f32 || q.rank() == 0 || s.rank() != q.rank() ||
      !std::equal(q.shape.begin(), q.shape.end() - 1, s.shape.begin()) || s.shape.back() <= 0 ||
      q.shape.back() % s.shape.back() != 0)
    return fmt::format("{}: the scale of {} must be f32[..., K/block] with the weight's leading "
                       "dims and a block dividing K, got {}",
                       op, ts(q), ts(s));
  return "";
}

R infer_Dequantize(const Types& t, const Attrs&) {
  if (std::string e = checkQuantized(t[0], t.size() > 1 ? &t[1] : nullptr, "dequantize"); !e.empty())
    return err(e);
  return TensorType{DType::f32, t[0].shape};
}

/// x[...,K] · w[N,K]ᵀ -> [...,N], the contraction of qmatmul and qlinear.
R quantizedContraction(const TensorType& x, const TensorType& w, const TensorType* scale,
                       const Attrs& a, const char* op) {
  if (std::string e = checkQuantized(w, scale, op); !e.empty()) return err(e);
  const int64_t xb = a.count("xblock") ? attrInt(a, "xblock") : 0;
  if (xb < 0 || (xb > 0 && w.dtype != DType::i8))
    return err(fmt::format("{}: xblock must be 0, or > 0 with an i8 weight; got {} with {}", op, xb,
                           ts(w)));
  if (!isF32(x) || x.rank() < 1 || w.rank() != 2 || x.shape.back() != w.shape[1])
    return err(fmt::format("{}: x[...,K] (f32) and w[N,K] do not fit: {} and {}", op, ts(x), ts(w)));
  Shape s = x.shape;
  s.back() = w.shape[0];
  return TensorType{DType::f32, s};
}

R infer_QMatMul(const Types& t, const Attrs& a) {
  return quantizedContraction(t[0], t[1], t.size() > 2 ? &t[2] : nullptr, a, "qmatmul");
}

R infer_QLinear(const Types& t, const Attrs& a) {
  R r = quantizedContraction(t[0], t[1], t.size() > 3 ? &t[3] : nullptr, a, "qlinear");
  if (!r) return r;
  if (t[2] != TensorType{DType::f32, {t[1].shape[0]}})
    return err(fmt::format("qlinear: b must be f32[{}], got {}", t[1].shape[0], ts(t[2])));
  return r;
}

R infer_AdamWMoment1(const Types& t, const Attrs& a) { return momentRule(t, a, "adamw_moment1"); }
R infer_AdamWMoment2(const Types& t, const Attrs& a) { return momentRule(t, a, "adamw_moment2"); }
R infer_AdamWUpdate(const Types& t, const Attrs& a) {
  if (!isF32(t[0]) || t[1] != t[0] || t[2] != t[0])
    return err(fmt::format("adamw_update: p, m and v must be the same f32 type, got {}, {}, {}",
                           ts(t[0]), ts(t[1]), ts(t[2])));
  if (t[3] != TensorType{DType::f32, {}}) return err(fmt::format("adamw_update: lr must be f32[], got {}", ts(t[3])));
  if (t[4] != TensorType{DType::i32, {}})
    return err(fmt::format("adamw_update: step must be i32[], got {}", ts(t[4])));
  for (const char* b : {"beta1", "beta2"})
    if (!(attrFloat(a, b) >= 0 && attrFloat(a, b) < 1))
      return err(fmt::format("adamw_update: {} must be in [0, 1), got {}", b, attrFloat(a, b)));
  if (!(attrFloat(a, "eps") > 0)) return err("adamw_update: eps must be positive");
  if (!(attrFloat(a, "wd") >= 0)) return err("adamw_update: wd must be >= 0");
  return t[0];
}
R infer_GlobalNorm(const Types& t, const Attrs&) {
  for (size_t i = 0; i < t.size(); ++i)
    if (!isF32(t[i])) return err(fmt::format("global_norm: operand {} must be f32, got {}", i, ts(t[i])));
  return TensorType{DType::f32, {}};
}
R infer_ClipScale(const Types& t, const Attrs& a) {
  if (t[0] != TensorType{DType::f32, {}}) return err(fmt::format("clip_scale: norm must be f32[], got {}", ts(t[0])));
  if (!(attrFloat(a, "max_norm") > 0)) return err("clip_scale: max_norm must be positive");
  return t[0];
}

// ---- fused kernels (passes/fuse.cpp): the types of the compositions they stand for
// (ir/fused_ops.h), the steps' rules in turn ----
R inferComposition(OpKind kind, const Types& t, const Attrs& a);
R infer_ScaleMaskSoftmax(const Types& t, const Attrs& a) {
  return inferComposition(OpKind::ScaleMaskSoftmax, t, a);
}
R infer_MaskedSoftmaxGrad(const Types& t, const Attrs& a) {
  return inferComposition(OpKind::MaskedSoftmaxGrad, t, a);
}
R infer_LinearGelu(const Types& t, const Attrs& a) {
  return inferComposition(OpKind::LinearGelu, t, a);
}
R infer_MatMulGeluGrad(const Types& t, const Attrs& a) {
  return inferComposition(OpKind::MatMulGeluGrad, t, a);
}

// ---- fused attention (passes/fuse_attention.cpp) ----
/// The checks attention and attention_grad share: q, k, v of one rank >= 2 with the same leading
/// dims, D equal, Tk equal; keep (when padded) broadcasting to [...,Tq,Tk]; seed (when p > 0)
/// i32[]. `first` is the index of the first optional operand.
R attentionOperands(const Types& t, const Attrs& a, size_t first, const char* op) {
  const TensorType &q = t[0], &k = t[1], &v = t[2];
  if (!isF32(q) || !isF32(k) || !isF32(v))
    return err(fmt::format("{}: q, k and v must be f32", op));
  int r = q.rank();
  if (r < 2 || k.rank() != r || v.rank() != r)
    return err(
        fmt::format("{}: q {}, k {}, v {} must have one rank >= 2", op, ts(q), ts(k), ts(v)));
  for (int d = 0; d < r - 2; ++d)
    if (k.shape[d] != q.shape[d] || v.shape[d] != q.shape[d])
      return err(fmt::format("{}: q {}, k {}, v {} must have the same leading dims", op, ts(q),
                             ts(k), ts(v)));
  if (k.shape[r - 1] != q.shape[r - 1])
    return err(fmt::format("{}: q {} and k {} differ in D", op, ts(q), ts(k)));
  if (v.shape[r - 2] != k.shape[r - 2])
    return err(fmt::format("{}: k {} and v {} differ in the number of keys", op, ts(k), ts(v)));
  bool padded = attrInt(a, "padded") != 0;
  double p = attrFloat(a, "p");
  if (!(p >= 0 && p < 1)) return err(fmt::format("{}: p must be in [0, 1), got {}", op, p));
  size_t want = first + (padded ? 1 : 0) + (p > 0 ? 1 : 0);
  if (t.size() != want)
    return err(fmt::format("{}: {} operands given, but padded = {} and p = {} want {}", op,
                           t.size(), int(padded), p, want));
  if (padded) {
    Shape scores(q.shape.begin(), q.shape.end() - 1);
    scores.push_back(k.shape[r - 2]);
    R m = infer_MaskFill({TensorType{DType::f32, scores}, t[first]}, a);
    if (!m) return err(fmt::format("{}: {}", op, m.error().message));
  }
  if (p > 0 && (t.back().dtype != DType::i32 || t.back().rank() != 0))
    return err(fmt::format("{}: seed must be an i32[] scalar, got {}", op, ts(t.back())));
  Shape out(q.shape.begin(), q.shape.end() - 1);
  out.push_back(v.shape[r - 1]);
  return TensorType{DType::f32, out};
}
R infer_Attention(const Types& t, const Attrs& a) {
  return attentionOperands(t, a, 3, "attention");
}
R infer_AttentionGrad(const Types& t, const Attrs& a) {
  if (t.size() < 5) return err("attention_grad: needs q, k, v, out, dout");
  Types fwd{t[0], t[1], t[2]};
  fwd.insert(fwd.end(), t.begin() + 5, t.end());
  R out = attentionOperands(fwd, a, 3, "attention_grad");
  if (!out) return out;
  if (t[3] != *out || t[4] != *out)
    return err(fmt::format("attention_grad: out {} and dout {} must be the forward result {}",
                           ts(t[3]), ts(t[4]), ts(*out)));
  return TensorType{DType::f32, {t[0].numel() + t[1].numel() + t[2].numel()}};
}

// x[...,C] · w[N,C]ᵀ gives the logits [...,N] that cross_entropy's rule checks against targets.
R linearXentCheck(const TensorType& x, const TensorType& w, const TensorType& targets,
                  const Attrs& a, const char* op) {
  if (!isF32(x) || x.rank() < 1 || !isF32(w) || w.rank() != 2 || w.shape[1] != x.shape.back())
    return err(
        fmt::format("{}: wants x f32[...,C] and w f32[N,C], got {} and {}", op, ts(x), ts(w)));
  Shape logits(x.shape.begin(), x.shape.end() - 1);
  logits.push_back(w.shape[0]);
  R r = xentCheck(TensorType{DType::f32, logits}, targets, a);
  if (!r) return err(fmt::format("{}: {}", op, r.error().message));
  return r;
}
R infer_LinearCrossEntropy(const Types& t, const Attrs& a) {
  return linearXentCheck(t[0], t[1], t[2], a, "linear_cross_entropy");
}
R infer_LinearCrossEntropyGrad(const Types& t, const Attrs& a) {
  R r = linearXentCheck(t[0], t[1], t[2], a, "linear_cross_entropy_grad");
  if (!r) return r;
  if (t[3] != TensorType{DType::f32, {}})
    return err("linear_cross_entropy_grad: dloss must be f32[]");
  return TensorType{DType::f32, {t[0].numel() + t[1].numel()}};
}

R infer_EmbeddingGradAdd(const Types& t, const Attrs& a) {
  return inferComposition(OpKind::EmbeddingGradAdd, t, a);
}

// ---- collectives ----
R infer_AllReduce(const Types& t, const Attrs&) { return needF32(t[0], "allreduce's x"); }
R infer_ReduceScatter(const Types& t, const Attrs& a) {
  if (R r = needF32(t[0], "reduce_scatter's x"); !r) return r;
  int64_t ranks = attrInt(a, "ranks");
  if (ranks < 1) return err(fmt::format("reduce_scatter: ranks must be >= 1, got {}", ranks));
  return TensorType{DType::f32, {(t[0].numel() + ranks - 1) / ranks}};
}
R infer_AllGather(const Types& t, const Attrs& a) {
  int64_t ranks = attrInt(a, "ranks");
  if (ranks < 1) return err(fmt::format("all_gather: ranks must be >= 1, got {}", ranks));
  TensorType out{DType::f32, Shape(attrInts(a, "shape").begin(), attrInts(a, "shape").end())};
  for (int64_t d : out.shape)
    if (d < 1) return err(fmt::format("all_gather: shape {} has a dim < 1", ts(out)));
  TensorType slice{DType::f32, {(out.numel() + ranks - 1) / ranks}};
  if (t[0] != slice)
    return err(fmt::format("all_gather: x must be this rank's slice {} of {} over {} ranks, got {}",
                           ts(slice), ts(out), ranks, ts(t[0])));
  return out;
}

using Rule = R (*)(const Types&, const Attrs&);
constexpr Rule kRules[] = {
#define OP(E, NAME, OPERANDS, ATTRS, CAT, INPLACE) &infer_##E,
#include "ir/ops.def"
#undef OP
};
static_assert(sizeof(kRules) / sizeof(kRules[0]) == kNumOpKinds);

R inferComposition(OpKind kind, const Types& t, const Attrs& a) {
  const Decomposition& d = *decompositionOf(kind);
  Types results;
  for (const FusedStep& s : d.steps) {
    Types operands;
    for (StepOperand o : s.operands)
      operands.push_back(o.fromStep ? results[size_t(o.index)] : t[size_t(o.index)]);
    if (d.resultIsOperand0 && &s == &d.steps.back())
      for (size_t k = 0; k < operands.size(); ++k)
        if (operands[k] != t[0]) {
          StepOperand o = s.operands[k];
          std::string what = o.fromStep ? std::string(opName(d.steps[size_t(o.index)].kind))
                                        : opInfo(kind).operands[size_t(o.index)].name;
          return err(fmt::format("{} {} must have {}'s type {} (no broadcasting: the result is "
                                 "written over it)",
                                 opInfo(kind).operands[0].name, ts(t[0]), what, ts(operands[k])));
        }
    Attrs attrs;
    if (std::string e = stepAttrs(s, a, t, &attrs); !e.empty()) return err(e);
    R r = kRules[static_cast<size_t>(s.kind)](operands, attrs);
    if (!r) return err(fmt::format("{} (in its {})", r.error().message, opName(s.kind)));
    results.push_back(*r);
  }
  return results.back();
}

} // namespace

Expected<TensorType> inferType(OpKind kind, const std::vector<TensorType>& operands, const Attrs& attrs) {
  return kRules[static_cast<size_t>(kind)](operands, attrs);
}

} // namespace gptc
