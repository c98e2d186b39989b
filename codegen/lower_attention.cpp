// codegen/lower_attention.cpp — the fused attention kernels (ops made by
// passes/fuse_attention.cpp). Neither writes a [...,Tq,Tk] tensor:
//   attention       per query row (rows of every batch-head are the parallel items): keys in
//                   blocks of kKeyBlock, each block's scores q·kⱼ·s (masked to -inf) into a
//                   stack buffer, then FlashAttention's online softmax: the running max m and sum
//                   l, the output row rescaled by exp(m_old - m_new) once per block and
//                   accumulated with exp(sⱼ - m)·dropout·vⱼ; out = acc / l at the end. A causal
//                   row stops at its last visible key.
//   attention_grad  per batch-head (it owns that head's dq, dk, dv, so rows add into dk and dv
//                   without atomics, in row order: bit-identical for any thread count): per query
//                   row, its scores into a row buffer (Tk floats on the stack), the row's
//                   log-sum-exp from them, Dᵢ = doutᵢ·outᵢ, then per key: p = exp(s - lse),
//                   dv += p̃·dout, dP = dout·vⱼ, dS = p·(dP̃ - Dᵢ), dq += s·dS·kⱼ, dk += s·dS·qᵢ
//                   (p̃, dP̃: times the dropout keep and 1/(1-p)).
// The inner loops run over D, contiguous, and LLVM vectorizes them (<8 x float> FMAs on AVX2).
// Dropout's mask is ir/rng.h's hash of (seed, salt, the weight's flat index) written as in
// lower_Dropout, so the fused and unfused masks are the same bits. Results match the interpreter
// (the unfused ops in sequence) within f32 rounding of a differently ordered softmax.
// What it leaves to others: matching the chain (passes/), the gradient's packing (gradients.cpp).
#include "codegen/lower.h"
#include "codegen/vector_math.h"

#include <algorithm>
#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

constexpr int64_t kKeyBlock = 64;
const double kInf = std::numeric_limits<double>::infinity();

/// What both kernels read from the spec.
struct AttentionShape {
  int64_t lead = 1, Tq = 0, Tk = 0, D = 0, Dv = 0;
  float scale = 1, p = 0, keepScale = 1;
  bool causal = false, padded = false, dropout = false, keepInt = false;
  int64_t offset = 0;
  uint32_t salt = 0;
  int keepIndex = -1, seedIndex = -1;
  Shape scores;                     ///< [lead..., Tq, Tk]
  std::vector<int64_t> keepStrides; ///< keep read as broadcast to `scores`

  AttentionShape(const KernelSpec& spec, int firstOptional) {
    const Shape &q = spec.operands[0].shape, &k = spec.operands[1].shape,
                &v = spec.operands[2].shape;
    int r = int(q.size());
    Tq = q[r - 2];
    D = q[r - 1];
    Tk = k[r - 2];
    Dv = v[r - 1];
    for (int d = 0; d < r - 2; ++d)
      lead *= q[d];
    scores.assign(q.begin(), q.end() - 1);
    scores.push_back(Tk);
    scale = float(attrFloat(spec.attrs, "s"));
    causal = attrInt(spec.attrs, "causal") != 0;
    offset = attrInt(spec.attrs, "offset");
    padded = attrInt(spec.attrs, "padded") != 0;
    p = float(attrFloat(spec.attrs, "p"));
    dropout = attrFloat(spec.attrs, "p") > 0;
    keepScale = float(1.0 / (1.0 - double(p)));
    salt = uint32_t(attrInt(spec.attrs, "salt"));
    int next = firstOptional;
    if (padded) {
      keepIndex = next++;
      keepInt = spec.operands[keepIndex].dtype == DType::i32;
      keepStrides = broadcastStrides(spec.operands[keepIndex].shape, scores);
    }
    if (dropout) seedIndex = next++;
  }
};

/// The per-kernel pieces of the masks and the dropout: built once, used per row and key.
struct Masks {
  KernelEmitter& E;
  const AttentionShape& a;
  Value* seedMix = nullptr;

  Masks(KernelEmitter& e, const AttentionShape& s) : E(e), a(s) {
    if (a.dropout)
      seedMix = E.b().CreateMul(E.loadI(E.operand(a.seedIndex), E.ci(0)), E.ci32(0xC2B2AE3Du));
  }
  /// Keys [0, result) of row r (query i) are visible: all Tk, or up to i + offset when causal.
  Value* visibleKeys(Value* i) {
    auto& b = E.b();
    if (!a.causal) return E.ci(a.Tk);
    Value* n = b.CreateAdd(i, E.ci(a.offset + 1));
    n = b.CreateSelect(b.CreateICmpSLT(n, E.ci(0)), E.ci(0), n);
    return b.CreateSelect(b.CreateICmpSGT(n, E.ci(a.Tk)), E.ci(a.Tk), n);
  }
  /// The keep mask's element offset of (row r, key 0).
  Value* keepRow(Value* r) {
    if (!a.padded) return nullptr;
    return E.remap(E.b().CreateMul(r, E.ci(a.Tk)), a.scores, a.keepStrides);
  }
  /// s, or -inf where the padding mask drops key j.
  Value* padMask(Value* s, Value* keepRow, Value* j) {
    if (!a.padded) return s;
    auto& b = E.b();
    Value* at = b.CreateAdd(keepRow, b.CreateMul(j, E.ci(a.keepStrides.back())));
    Value* kept = a.keepInt ? b.CreateICmpNE(E.loadI(E.operand(a.keepIndex), at), E.ci32(0))
                            : b.CreateFCmpUNE(E.loadF(E.operand(a.keepIndex), at), E.cf(0.0));
    return b.CreateSelect(kept, s, E.cf(-kInf));
  }
  /// The factor dropout gives weight (r, j): 1/(1-p) kept, 0 dropped (1 without dropout). The
  /// hash of lower_Dropout at the weight's flat index r·Tk + j.
  Value* dropFactor(Value* r, Value* j) {
    if (!a.dropout) return E.cf(1.0);
    auto& b = E.b();
    Value* i = b.CreateTrunc(b.CreateAdd(b.CreateMul(r, E.ci(a.Tk)), j), E.i32());
    Value* u = dropoutUniform(E, i, E.ci32(uint32_t(a.salt * 0x85EBCA77u)), seedMix);
    return b.CreateSelect(b.CreateFCmpOGE(u, E.cf(a.p)), E.cf(a.keepScale), E.cf(0.0));
  }
};

/// Σ_d x[xb + d]·y[yb + d] over n elements (a vectorized reduction).
Value* dot(KernelEmitter& E, Value* x, Value* xb, Value* y, Value* yb, int64_t n) {
  auto& b = E.b();
  return E.reduce(E.ci(0), E.ci(n), {E.cf(0.0)}, [&](Value* d, const Vals& acc) {
    return Vals{b.CreateFAdd(
        acc[0], b.CreateFMul(E.loadF(x, b.CreateAdd(xb, d)), E.loadF(y, b.CreateAdd(yb, d))))};
  })[0];
}

/// x[xb + d] += w·y[yb + d] for d < n.
void axpy(KernelEmitter& E, Value* x, Value* xb, Value* w, Value* y, Value* yb, int64_t n) {
  auto& b = E.b();
  E.loop(n, [&](Value* d) {
    Value* at = b.CreateAdd(xb, d);
    E.storeF(x, at, b.CreateFAdd(E.loadF(x, at), b.CreateFMul(w, E.loadF(y, b.CreateAdd(yb, d)))));
  });
}

/// x[xb + d] *= w for d < n (w = 0 stores zeros).
void scaleRow(KernelEmitter& E, Value* x, Value* xb, Value* w, int64_t n) {
  auto& b = E.b();
  E.loop(n, [&](Value* d) {
    Value* at = b.CreateAdd(xb, d);
    E.storeF(x, at, b.CreateFMul(E.loadF(x, at), w));
  });
}

void zeroRow(KernelEmitter& E, Value* x, Value* xb, int64_t n) {
  E.loop(n, [&](Value* d) { E.storeF(x, E.b().CreateAdd(xb, d), E.cf(0.0)); });
}

std::string supported(const AttentionShape& a) {
  if (a.Tk > (int64_t(1) << 16)) return "attention: more than 65536 keys (the row buffer)";
  if (a.lead * a.Tq * a.Tk >= (int64_t(1) << 31) && a.dropout)
    return "attention: dropout's index is 32-bit (as dropout's)";
  return "";
}

} // namespace

std::string lower_Attention(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  AttentionShape a(spec, 3);
  if (std::string bad = supported(a); !bad.empty()) return bad;
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    Masks masks(E, a);
    int64_t block = std::min(kKeyBlock, a.Tk);
    Value* sc = b.CreateAlloca(E.f32(), E.ci(block), "scores"); // one block of one row's scores
    Value *q = E.operand(0), *k = E.operand(1), *v = E.operand(2), *o = E.result();
    E.parallelFor(a.lead * a.Tq, [&](Value* r) {
      Value* bh = b.CreateUDiv(r, E.ci(a.Tq));
      Value* i = b.CreateURem(r, E.ci(a.Tq));
      Value* qb = b.CreateMul(r, E.ci(a.D));
      Value* kb = b.CreateMul(bh, E.ci(a.Tk * a.D));
      Value* vb = b.CreateMul(bh, E.ci(a.Tk * a.Dv));
      Value* ob = b.CreateMul(r, E.ci(a.Dv));
      Value* nk = masks.visibleKeys(i);
      Value* keepRow = masks.keepRow(r);
      zeroRow(E, o, ob, a.Dv);
      Value* blocks = b.CreateUDiv(b.CreateAdd(nk, E.ci(block - 1)), E.ci(block));
      Vals ml =
          E.reduce(E.ci(0), blocks, {E.cf(-kInf), E.cf(0.0)}, [&](Value* blk, const Vals& st) {
            Value* j0 = b.CreateMul(blk, E.ci(block));
            Value* rest = b.CreateSub(nk, j0);
            Value* n = b.CreateSelect(b.CreateICmpSLT(rest, E.ci(block)), rest, E.ci(block));
            Value* bm = E.reduce(E.ci(0), n, {E.cf(-kInf)}, [&](Value* jj, const Vals& acc) {
              Value* j = b.CreateAdd(j0, jj);
              Value* s = b.CreateFMul(
                  dot(E, q, qb, k, b.CreateAdd(kb, b.CreateMul(j, E.ci(a.D))), a.D), E.cf(a.scale));
              s = masks.padMask(s, keepRow, j);
              E.storeF(sc, jj, s);
              return Vals{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc[0], s)};
            })[0];
            Value* m = b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, st[0], bm);
            // all -inf so far: subtract 0 (exp(-inf) = 0 everywhere), never -inf - -inf
            Value* mSafe = b.CreateSelect(b.CreateFCmpOEQ(m, E.cf(-kInf)), E.cf(0.0), m);
            Value* corr = emitExp(b, b.CreateFSub(st[0], mSafe));
            scaleRow(E, o, ob, corr, a.Dv);
            Value* sum = E.reduce(E.ci(0), n, {E.cf(0.0)}, [&](Value* jj, const Vals& acc) {
              Value* j = b.CreateAdd(j0, jj);
              Value* pj = emitExp(b, b.CreateFSub(E.loadF(sc, jj), mSafe));
              Value* w = b.CreateFMul(pj, masks.dropFactor(r, j));
              axpy(E, o, ob, w, v, b.CreateAdd(vb, b.CreateMul(j, E.ci(a.Dv))), a.Dv);
              return Vals{b.CreateFAdd(acc[0], pj)};
            })[0];
            return Vals{m, b.CreateFAdd(b.CreateFMul(st[1], corr), sum)};
          });
      Value* l = ml[1];
      Value* inv =
          b.CreateSelect(b.CreateFCmpOGT(l, E.cf(0.0)), b.CreateFDiv(E.cf(1.0), l), E.cf(0.0));
      scaleRow(E, o, ob, inv, a.Dv);
    });
    return "";
  });
}

std::string lower_AttentionGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                LoweredKernel* out) {
  AttentionShape a(spec, 5);
  if (std::string bad = supported(a); !bad.empty()) return bad;
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    Masks masks(E, a);
    Value* srow = b.CreateAlloca(E.f32(), E.ci(a.Tk), "row"); // one query row's scores
    Value *q = E.operand(0), *k = E.operand(1), *v = E.operand(2), *o = E.operand(3),
          *dout = E.operand(4), *g = E.result();
    int64_t nq = a.lead * a.Tq * a.D, nk = a.lead * a.Tk * a.D;
    E.parallelFor(a.lead, [&](Value* bh) {
      Value* kb = b.CreateMul(bh, E.ci(a.Tk * a.D));
      Value* vb = b.CreateMul(bh, E.ci(a.Tk * a.Dv));
      Value* dkb = b.CreateAdd(E.ci(nq), kb);
      Value* dvb = b.CreateAdd(E.ci(nq + nk), vb);
      zeroRow(E, g, dkb, a.Tk * a.D);
      zeroRow(E, g, dvb, a.Tk * a.Dv);
      E.loop(E.ci(0), E.ci(a.Tq), [&](Value* i) {
        Value* r = b.CreateAdd(b.CreateMul(bh, E.ci(a.Tq)), i);
        Value* qb = b.CreateMul(r, E.ci(a.D));
        Value* ob = b.CreateMul(r, E.ci(a.Dv));
        Value* n = masks.visibleKeys(i);
        Value* keepRow = masks.keepRow(r);
        // the row's scores and their max, then the log-sum-exp
        Value* m = E.reduce(E.ci(0), n, {E.cf(-kInf)}, [&](Value* j, const Vals& acc) {
          Value* s = b.CreateFMul(dot(E, q, qb, k, b.CreateAdd(kb, b.CreateMul(j, E.ci(a.D))), a.D),
                                  E.cf(a.scale));
          s = masks.padMask(s, keepRow, j);
          E.storeF(srow, j, s);
          return Vals{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc[0], s)};
        })[0];
        Value* mSafe = b.CreateSelect(b.CreateFCmpOEQ(m, E.cf(-kInf)), E.cf(0.0), m);
        Value* l = E.reduce(E.ci(0), n, {E.cf(0.0)}, [&](Value* j, const Vals& acc) {
          return Vals{b.CreateFAdd(acc[0], emitExp(b, b.CreateFSub(E.loadF(srow, j), mSafe)))};
        })[0];
        // a row with no visible key has weights 0: lse = +inf makes every exp(s - lse) 0
        Value* lse = b.CreateSelect(b.CreateFCmpOGT(l, E.cf(0.0)),
                                    b.CreateFAdd(mSafe, emitLog(b, l)), E.cf(kInf));
        Value* Di = dot(E, dout, ob, o, ob, a.Dv);
        zeroRow(E, g, qb, a.D);
        E.loop(E.ci(0), n, [&](Value* j) {
          Value* pj = emitExp(b, b.CreateFSub(E.loadF(srow, j), lse));
          Value* f = masks.dropFactor(r, j);
          Value* kj = b.CreateAdd(kb, b.CreateMul(j, E.ci(a.D)));
          Value* vj = b.CreateAdd(vb, b.CreateMul(j, E.ci(a.Dv)));
          axpy(E, g, b.CreateAdd(E.ci(nq + nk), vj), b.CreateFMul(pj, f), dout, ob, a.Dv);
          Value* dp = b.CreateFMul(dot(E, dout, ob, v, vj, a.Dv), f);
          Value* ds = b.CreateFMul(b.CreateFMul(pj, b.CreateFSub(dp, Di)), E.cf(a.scale));
          Value* dkj = b.CreateAdd(E.ci(nq), kj);
          E.loop(a.D, [&](Value* d) {
            Value* qd = b.CreateAdd(qb, d);
            Value* kd = b.CreateAdd(kj, d);
            Value* dk = b.CreateAdd(dkj, d);
            E.storeF(g, qd, b.CreateFAdd(E.loadF(g, qd), b.CreateFMul(ds, E.loadF(k, kd))));
            E.storeF(g, dk, b.CreateFAdd(E.loadF(g, dk), b.CreateFMul(ds, E.loadF(q, qd))));
          });
        });
      });
    });
    return "";
  });
}

} // namespace gptc::codegen
