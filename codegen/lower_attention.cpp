// codegen/lower_attention.cpp — the fused attention kernels (ops made by
// passes/fuse_attention.cpp), FlashAttention-2 on a CPU. Neither writes a [...,Tq,Tk] tensor:
//   attention       per tile of kFwdRows query rows of one batch-head (the parallel items): key
//                   blocks of kFwdKeys, each block's scores s = q·kᵀ [rows, keys] as one
//                   register-blocked product (the block packed transposed, so the vectors run
//                   over keys), the online softmax per row (running max m and sum l, the tile's
//                   output rescaled by exp(m_old - m_new)), then acc += p̃·v as another tile
//                   product; out = acc / l. Causal tiles stop at the last row's last visible key.
//   attention_grad  per batch-head (it owns that head's dq, dk, dv: no atomics, every sum in a
//                   fixed order, so bit-identical for any thread count). Pass 1: each row's
//                   log-sum-exp by key blocks (one more q·kᵀ; the forward keeps no lse, see
//                   docs/passes/fuse-attention.md) and Dᵢ = doutᵢ·outᵢ. Pass 2, per key block of
//                   kBwdKeys, over the query tiles of kBwdRows that see it (causal: from the first
//                   such tile): s and p = exp(s - lse), dP = dout·vᵀ, dS = p·(dP̃ - Dᵢ)·scale,
//                   dv += p̃ᵀ·dout, dk += dSᵀ·q (in tile buffers, stored once per block), dq +=
//                   dS·k (p̃, dP̃: times the dropout keep and 1/(1-p)).
// The products are one micro-kernel (gemm below: 6 rows × 2 <8 x float> accumulators, FMAs); the
// per-row softmax pieces are plain loops over a tile row that LLVM vectorizes. Tiles are padded:
// keys past Tk score -inf, rows past Tq are read clamped and never stored (their lse is +inf, so
// they add nothing to dk, dv), D and Dv are padded with zeros to the tile width in the packed
// buffers. All buffers are on the stack, a few tens of KiB (three Tq-float rows in the backward).
// A sequence shorter than a tile gets tiles of its own size (tileRows, tileKeys).
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

// ---- register-blocked tile products ----

constexpr int kLanes = 8; ///< <8 x float>: an AVX2 ymm (AVX-512 hosts run it as is)
/// The micro-tile: kMr rows × kNv vectors = 12 accumulators, + kNv B vectors and one broadcast
/// (15 of AVX2's 16 ymm), codegen/matmul's AVX2 tile: 12 independent FMA chains cover the 4-cycle
/// latency of 2 FMA ports with room to spare. M % kMr rows end a product as one smaller tile.
constexpr int64_t kMr = 6, kNv = 2;
constexpr int64_t kCols = kLanes * kNv; ///< tile widths (N) are multiples of this
/// Tiles: the forward works on kFwdRows query rows × kFwdKeys keys at a time, the backward on
/// kBwdRows × kBwdKeys. 64 × 32 and 32 × 32 gave the best attention times of the sizes tried
/// (32..96 rows, 32..64 keys, bench/fused_attention.py's chargpt) on the 2-core Zen 3, but the
/// machine's load made that sweep coarse; keys in blocks of 32 also keep the causal diagonal's
/// wasted half-tiles small at T 256.
constexpr int64_t kFwdRows = 64, kFwdKeys = 32;
constexpr int64_t kBwdRows = 32, kBwdKeys = 32;

int64_t roundUp(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

/// A short sequence gets tiles its own size: rows rounded to the micro-tile's kMr, keys to the
/// tile width kCols. Full-size tiles at seq2seq's T 12 computed 64 × 32 scores for 12 × 12 (a
/// training step 1.35× the unfused one); these compute 12 × 16.
int64_t tileRows(int64_t Tq, int64_t most) {
  return std::min(most, roundUp(Tq, kMr));
}
int64_t tileKeys(int64_t Tk, int64_t most) {
  return std::min(most, roundUp(Tk, kCols));
}

/// A matrix in memory: element (r, c) at base[row(r) + c·cs]. `row` may clamp (rows read in place
/// past the tensor's end repeat its last row; their results are masked).
struct View {
  Value* base;
  std::function<Value*(Value* r)> row;
  int64_t cs = 1;
};
View strided(KernelEmitter& E, Value* base, Value* off, int64_t rs, int64_t cs = 1) {
  return {base,
          [&E, off, rs](Value* r) { return E.b().CreateAdd(off, E.b().CreateMul(r, E.ci(rs))); },
          cs};
}

llvm::AllocaInst* buffer(KernelEmitter& E, int64_t n, const char* name) {
  llvm::AllocaInst* a = E.b().CreateAlloca(E.f32(), E.ci(n), name);
  a->setAlignment(llvm::Align(64));
  return a;
}

/// C (+)= A·B: M×N (+)= (M×K)·(K×N). N a multiple of kCols; K may be a runtime value.
/// B's and C's rows are contiguous (cs = 1) and read as vectors; A's elements are broadcast.
/// The C tiles are visited in a fixed order and each sums its K terms in order: no dependence on
/// threads.
void gemm(KernelEmitter& E, const View& C, const View& A, const View& B, int64_t M, int64_t N,
          Value* K, bool accumulate) {
  auto& b = E.b();
  auto* vt = llvm::FixedVectorType::get(E.f32(), kLanes);
  auto loadV = [&](Value* base, Value* at) -> Value* {
    return b.CreateAlignedLoad(vt, E.addr(base, at), llvm::Align(4));
  };
  // rows [r0, r0 + rows) of C, all its columns: rows × kNv accumulators per column block
  auto rowBlock = [&](Value* r0, int64_t rows) {
    std::vector<Value*> aRow(rows), cRow(rows);
    for (int64_t i = 0; i < rows; ++i) {
      aRow[i] = A.row(b.CreateAdd(r0, E.ci(i)));
      cRow[i] = C.row(b.CreateAdd(r0, E.ci(i)));
    }
    E.loop(
        E.ci(0), E.ci(N / kCols),
        [&](Value* cb) {
          Value* c0 = b.CreateMul(cb, E.ci(kCols));
          Vals init;
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t v = 0; v < kNv; ++v)
              init.push_back(
                  accumulate
                      ? loadV(C.base, b.CreateAdd(cRow[i], b.CreateAdd(c0, E.ci(v * kLanes))))
                      : llvm::ConstantFP::get(vt, 0.0));
          Vals acc = E.reduce(E.ci(0), K, init, [&](Value* k, const Vals& in) {
            Value* bRow = b.CreateAdd(B.row(k), c0);
            Value* bv[kNv];
            for (int64_t v = 0; v < kNv; ++v)
              bv[v] = loadV(B.base, b.CreateAdd(bRow, E.ci(v * kLanes)));
            Vals out(in.size());
            for (int64_t i = 0; i < rows; ++i) {
              Value* a = b.CreateVectorSplat(
                  kLanes, E.loadF(A.base, b.CreateAdd(aRow[i], b.CreateMul(k, E.ci(A.cs)))));
              for (int64_t v = 0; v < kNv; ++v)
                out[i * kNv + v] =
                    b.CreateIntrinsic(llvm::Intrinsic::fmuladd, {vt}, {a, bv[v], in[i * kNv + v]});
            }
            return out;
          });
          for (int64_t i = 0; i < rows; ++i)
            for (int64_t v = 0; v < kNv; ++v)
              b.CreateAlignedStore(
                  acc[i * kNv + v],
                  E.addr(C.base, b.CreateAdd(cRow[i], b.CreateAdd(c0, E.ci(v * kLanes)))),
                  llvm::Align(4));
        },
        /*keepScalar=*/true);
  };
  E.loop(
      E.ci(0), E.ci(M / kMr), [&](Value* rb) { rowBlock(b.CreateMul(rb, E.ci(kMr)), kMr); },
      /*keepScalar=*/true);
  if (M % kMr) rowBlock(E.ci(M / kMr * kMr), M % kMr);
}

/// dst[r·ds + c] = src[srcRow(r) + c] for c < n, 0 for n <= c < ds, rows r < rows; rows whose
/// `valid(r)` is false are zeros (tiles padded past the tensor's end). srcRow must stay in
/// bounds (clamped) for every r.
void packRows(KernelEmitter& E, Value* dst, int64_t ds, Value* src,
              const std::function<Value*(Value* r)>& srcRow,
              const std::function<Value*(Value* r)>& valid, int64_t rows, int64_t n) {
  auto& b = E.b();
  E.loop(
      E.ci(0), E.ci(rows),
      [&](Value* r) {
        Value* ok = valid(r);
        Value* from = srcRow(r);
        Value* to = b.CreateMul(r, E.ci(ds));
        E.loop(n, [&](Value* c) {
          Value* x = E.loadF(src, b.CreateAdd(from, c));
          E.storeF(dst, b.CreateAdd(to, c), b.CreateSelect(ok, x, E.cf(0.0)));
        });
        if (ds > n)
          E.loop(E.ci(n), E.ci(ds),
                 [&](Value* c) { E.storeF(dst, b.CreateAdd(to, c), E.cf(0.0)); });
      },
      /*keepScalar=*/true);
}

/// dst[c·ds + r] = src[srcRow(r) + c] for c < n, r < rows (0 where !valid(r)): a transpose.
void packCols(KernelEmitter& E, Value* dst, int64_t ds, Value* src,
              const std::function<Value*(Value* r)>& srcRow,
              const std::function<Value*(Value* r)>& valid, int64_t rows, int64_t n) {
  auto& b = E.b();
  E.loop(
      E.ci(0), E.ci(rows),
      [&](Value* r) {
        Value* ok = valid(r);
        Value* from = srcRow(r);
        E.loop(n, [&](Value* c) {
          Value* x = E.loadF(src, b.CreateAdd(from, c));
          E.storeF(dst, b.CreateAdd(b.CreateMul(c, E.ci(ds)), r), b.CreateSelect(ok, x, E.cf(0.0)));
        });
      },
      /*keepScalar=*/true);
}

void zeroRow(KernelEmitter& E, Value* x, Value* xb, int64_t n) {
  E.loop(n, [&](Value* d) { E.storeF(x, E.b().CreateAdd(xb, d), E.cf(0.0)); });
}

Value* minI(KernelEmitter& E, Value* x, Value* y) {
  return E.b().CreateSelect(E.b().CreateICmpSLT(x, y), x, y);
}
Value* maxF(KernelEmitter& E, Value* x, Value* y) {
  return E.b().CreateSelect(E.b().CreateFCmpOGT(y, x), y, x);
}

std::string supported(const AttentionShape& a) {
  if (a.Tq > (int64_t(1) << 16)) return "attention: more than 65536 queries (the row buffers)";
  if (a.lead * a.Tq * a.Tk >= (int64_t(1) << 31) && a.dropout)
    return "attention: dropout's index is 32-bit (as dropout's)";
  // the tile buffers live on the kernel's stack (threads have 8 MiB): the backward's are the
  // larger (lower_AttentionGrad)
  int64_t Dp = roundUp(a.D, kCols), Dvp = roundUp(a.Dv, kCols);
  int64_t floats = 3 * roundUp(a.Tq, kBwdRows) + kBwdKeys * (a.D + 2 * Dp + a.Dv + Dvp) +
                   kBwdRows * (2 * Dp + Dvp + 2 * kBwdKeys);
  floats = std::max(floats, kFwdKeys * (a.D + Dvp) + kFwdRows * (kFwdKeys + Dvp + 2));
  if (floats * 4 > (int64_t(2) << 20))
    return "attention: head size " + std::to_string(a.D) + "/" + std::to_string(a.Dv) +
           " too large for the kernels' stack tiles (at most 2 MiB)";
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
    const int64_t Bq = tileRows(a.Tq, kFwdRows), Bk = tileKeys(a.Tk, kFwdKeys),
                  Dvp = roundUp(a.Dv, kCols);
    const int64_t tiles = (a.Tq + Bq - 1) / Bq;
    Value* kt = buffer(E, a.D * Bk, "kT");   // [D, Bk]    the key block, transposed
    Value* vb = buffer(E, Bk * Dvp, "v");    // [Bk, Dvp]  its values, zero-padded
    Value* sc = buffer(E, Bq * Bk, "s");     // [Bq, Bk]   scores, then weights
    Value* acc = buffer(E, Bq * Dvp, "acc"); // [Bq, Dvp]  the unnormalised output
    Value* mx = buffer(E, Bq, "m");          // [Bq]       running max
    Value* sum = buffer(E, Bq, "l");         // [Bq]       running Σ exp(s - m)
    Value *q = E.operand(0), *k = E.operand(1), *v = E.operand(2), *o = E.result();
    E.parallelFor(a.lead * tiles, [&](Value* item) {
      Value* bh = b.CreateUDiv(item, E.ci(tiles));
      Value* i0 = b.CreateMul(b.CreateURem(item, E.ci(tiles)), E.ci(Bq));
      // row r of the tile is query min(i0 + r, Tq - 1) (rows past Tq are computed, never stored)
      auto query = [&](Value* r) { return minI(E, b.CreateAdd(i0, r), E.ci(a.Tq - 1)); };
      auto globalRow = [&](Value* r) { return b.CreateAdd(b.CreateMul(bh, E.ci(a.Tq)), query(r)); };
      auto key = [&](Value* j0, Value* jj) { return minI(E, b.CreateAdd(j0, jj), E.ci(a.Tk - 1)); };
      E.loop(Bq, [&](Value* r) {
        E.storeF(mx, r, E.cf(-kInf));
        E.storeF(sum, r, E.cf(0.0));
      });
      zeroRow(E, acc, E.ci(0), Bq * Dvp);
      // keys any row of the tile sees: all, or up to the last row's causal limit
      Value* last = minI(E, b.CreateAdd(i0, E.ci(Bq - 1)), E.ci(a.Tq - 1));
      Value* nk = masks.visibleKeys(last);
      Value* blocks = b.CreateUDiv(b.CreateAdd(nk, E.ci(Bk - 1)), E.ci(Bk));
      E.loop(E.ci(0), blocks, [&](Value* blk) {
        Value* j0 = b.CreateMul(blk, E.ci(Bk));
        auto keyRow = [&](int64_t width) {
          return [&, width](Value* jj) {
            return b.CreateMul(b.CreateAdd(b.CreateMul(bh, E.ci(a.Tk)), key(j0, jj)), E.ci(width));
          };
        };
        auto keyValid = [&](Value* jj) { return b.CreateICmpSLT(b.CreateAdd(j0, jj), E.ci(a.Tk)); };
        packCols(E, kt, Bk, k, keyRow(a.D), keyValid, Bk, a.D);
        packRows(E, vb, Dvp, v, keyRow(a.Dv), keyValid, Bk, a.Dv);
        // s = q·kᵀ  [Bq, Bk], q read in place
        gemm(E, strided(E, sc, E.ci(0), Bk),
             {q, [&](Value* r) { return b.CreateMul(globalRow(r), E.ci(a.D)); }, 1},
             strided(E, kt, E.ci(0), Bk), Bq, Bk, E.ci(a.D), false);
        // the online softmax per row: masks, the block's max, rescale, weights into sc
        E.loop(
            E.ci(0), E.ci(Bq),
            [&](Value* r) {
              Value* rg = globalRow(r);
              Value* lim = masks.visibleKeys(query(r));
              Value* keepRow = masks.keepRow(rg);
              Value* base = b.CreateMul(r, E.ci(Bk));
              Value* bm = E.reduce(E.ci(0), E.ci(Bk), {E.cf(-kInf)}, [&](Value* jj, const Vals& m) {
                Value* at = b.CreateAdd(base, jj);
                Value* s = b.CreateFMul(E.loadF(sc, at), E.cf(a.scale));
                s = b.CreateSelect(b.CreateICmpSLT(b.CreateAdd(j0, jj), lim), s, E.cf(-kInf));
                s = masks.padMask(s, keepRow, key(j0, jj));
                E.storeF(sc, at, s);
                return Vals{maxF(E, m[0], s)};
              })[0];
              Value* mOld = E.loadF(mx, r);
              Value* m = maxF(E, mOld, bm);
              // all -inf so far: subtract 0 (exp(-inf) = 0 everywhere), never -inf - -inf
              Value* mSafe = b.CreateSelect(b.CreateFCmpOEQ(m, E.cf(-kInf)), E.cf(0.0), m);
              Value* corr = emitExp(b, b.CreateFSub(mOld, mSafe));
              Value* l = E.reduce(E.ci(0), E.ci(Bk), {E.cf(0.0)}, [&](Value* jj, const Vals& l) {
                Value* at = b.CreateAdd(base, jj);
                Value* pj = emitExp(b, b.CreateFSub(E.loadF(sc, at), mSafe));
                E.storeF(sc, at, b.CreateFMul(pj, masks.dropFactor(rg, b.CreateAdd(j0, jj))));
                return Vals{b.CreateFAdd(l[0], pj)};
              })[0];
              E.storeF(sum, r, b.CreateFAdd(b.CreateFMul(E.loadF(sum, r), corr), l));
              E.storeF(mx, r, m);
              Value* ab = b.CreateMul(r, E.ci(Dvp));
              E.loop(Dvp, [&](Value* d) {
                Value* at = b.CreateAdd(ab, d);
                E.storeF(acc, at, b.CreateFMul(E.loadF(acc, at), corr));
              });
            },
            /*keepScalar=*/true);
        // acc += weights·v  [Bq, Dvp]
        gemm(E, strided(E, acc, E.ci(0), Dvp), strided(E, sc, E.ci(0), Bk),
             strided(E, vb, E.ci(0), Dvp), Bq, Dvp, E.ci(Bk), true);
      });
      Value* rows = minI(E, E.ci(Bq), b.CreateSub(E.ci(a.Tq), i0));
      E.loop(
          E.ci(0), rows,
          [&](Value* r) {
            Value* l = E.loadF(sum, r);
            Value* inv = b.CreateSelect(b.CreateFCmpOGT(l, E.cf(0.0)), b.CreateFDiv(E.cf(1.0), l),
                                        E.cf(0.0));
            Value* ob = b.CreateMul(globalRow(r), E.ci(a.Dv));
            Value* ab = b.CreateMul(r, E.ci(Dvp));
            E.loop(a.Dv, [&](Value* d) {
              E.storeF(o, b.CreateAdd(ob, d), b.CreateFMul(E.loadF(acc, b.CreateAdd(ab, d)), inv));
            });
          },
          /*keepScalar=*/true);
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
    const int64_t Bq = tileRows(a.Tq, kBwdRows), Bk = tileKeys(a.Tk, kBwdKeys),
                  Dp = roundUp(a.D, kCols), Dvp = roundUp(a.Dv, kCols);
    const int64_t tiles = (a.Tq + Bq - 1) / Bq, Tqp = tiles * Bq;
    const int64_t blocks = (a.Tk + Bk - 1) / Bk;
    Value* lse = buffer(E, Tqp, "lse");     // [Tqp] each row's log-sum-exp (first its max)
    Value* lsum = buffer(E, Tqp, "l");      // [Tqp] Σ exp(s - m)
    Value* dd = buffer(E, Tqp, "D");        // [Tqp] Dᵢ = doutᵢ·outᵢ
    Value* kt = buffer(E, a.D * Bk, "kT");  // [D, Bk]    the key block, transposed
    Value* kb = buffer(E, Bk * Dp, "k");    // [Bk, Dp]   the key block
    Value* vt = buffer(E, a.Dv * Bk, "vT"); // [Dv, Bk]   its values, transposed
    Value* qt = buffer(E, Bq * Dp, "q");    // [Bq, Dp]   the query tile
    Value* dot = buffer(E, Bq * Dvp, "dO"); // [Bq, Dvp]  its dout
    Value* sc = buffer(E, Bq * Bk, "s");    // [Bq, Bk]   scores, then p̃
    Value* dp = buffer(E, Bq * Bk, "dP");   // [Bq, Bk]   dP, then dS
    Value* dkA = buffer(E, Bk * Dp, "dK");  // [Bk, Dp]   the key block's dk
    Value* dvA = buffer(E, Bk * Dvp, "dV"); // [Bk, Dvp]  its dv
    Value* dqT = buffer(E, Bq * Dp, "dQ");  // [Bq, Dp]   the tile's dq from this key block
    Value *q = E.operand(0), *k = E.operand(1), *v = E.operand(2), *o = E.operand(3),
          *dout = E.operand(4), *g = E.result();
    const int64_t nq = a.lead * a.Tq * a.D, nk = a.lead * a.Tk * a.D;
    // one batch-head per item: it owns its rows of dq, dk, dv (no atomics, a fixed order)
    E.parallelFor(a.lead, [&](Value* bh) {
      auto query = [&](Value* i) { return minI(E, i, E.ci(a.Tq - 1)); };
      auto globalRow = [&](Value* i) { return b.CreateAdd(b.CreateMul(bh, E.ci(a.Tq)), query(i)); };
      auto key = [&](Value* j) { return minI(E, j, E.ci(a.Tk - 1)); };
      auto globalKey = [&](Value* j) { return b.CreateAdd(b.CreateMul(bh, E.ci(a.Tk)), key(j)); };
      // the first query tile that sees key block j0 (causal: rows i with i + offset >= j0)
      auto firstTile = [&](Value* j0) -> Value* {
        if (!a.causal) return E.ci(0);
        Value* i = b.CreateSub(j0, E.ci(a.offset));
        i = b.CreateSelect(b.CreateICmpSLT(i, E.ci(0)), E.ci(0), i);
        return b.CreateUDiv(i, E.ci(Bq));
      };
      auto packKeys = [&](Value* j0) {
        auto row = [&](int64_t width) {
          return [&, width](Value* jj) {
            return b.CreateMul(globalKey(b.CreateAdd(j0, jj)), E.ci(width));
          };
        };
        auto valid = [&](Value* jj) { return b.CreateICmpSLT(b.CreateAdd(j0, jj), E.ci(a.Tk)); };
        packCols(E, kt, Bk, k, row(a.D), valid, Bk, a.D);
        packRows(E, kb, Dp, k, row(a.D), valid, Bk, a.D);
        packCols(E, vt, Bk, v, row(a.Dv), valid, Bk, a.Dv);
      };
      // s = q·kᵀ·scale, masked, for the tile at i0 and the key block at j0, into sc
      auto scores =
          [&](Value* i0, Value* j0, const View& qv,
              const std::function<void(Value * r, Value * i, Value * rg, Value * base)>& row) {
            gemm(E, strided(E, sc, E.ci(0), Bk), qv, strided(E, kt, E.ci(0), Bk), Bq, Bk, E.ci(a.D),
                 false);
            E.loop(
                E.ci(0), E.ci(Bq),
                [&](Value* r) {
                  Value* i = b.CreateAdd(i0, r);
                  Value* rg = globalRow(i);
                  Value* lim = masks.visibleKeys(query(i));
                  Value* keepRow = masks.keepRow(rg);
                  Value* base = b.CreateMul(r, E.ci(Bk));
                  E.loop(Bk, [&](Value* jj) {
                    Value* at = b.CreateAdd(base, jj);
                    Value* j = b.CreateAdd(j0, jj);
                    Value* s = b.CreateFMul(E.loadF(sc, at), E.cf(a.scale));
                    s = b.CreateSelect(b.CreateICmpSLT(j, lim), s, E.cf(-kInf));
                    E.storeF(sc, at, masks.padMask(s, keepRow, key(j)));
                  });
                  row(r, i, rg, base);
                },
                /*keepScalar=*/true);
          };
      E.loop(Tqp, [&](Value* i) {
        E.storeF(lse, i, E.cf(-kInf));
        E.storeF(lsum, i, E.cf(0.0));
      });
      zeroRow(E, g, b.CreateMul(bh, E.ci(a.Tq * a.D)), a.Tq * a.D);
      // pass 1: each row's log-sum-exp, by key blocks (each row's online max and sum)
      E.loop(
          E.ci(0), E.ci(blocks),
          [&](Value* blk) {
            Value* j0 = b.CreateMul(blk, E.ci(Bk));
            packKeys(j0);
            E.loop(
                firstTile(j0), E.ci(tiles),
                [&](Value* t) {
                  Value* i0 = b.CreateMul(t, E.ci(Bq));
                  View qv{q,
                          [&](Value* r) {
                            return b.CreateMul(globalRow(b.CreateAdd(i0, r)), E.ci(a.D));
                          },
                          1};
                  scores(i0, j0, qv, [&](Value*, Value* i, Value*, Value* base) {
                    Value* bm =
                        E.reduce(E.ci(0), E.ci(Bk), {E.cf(-kInf)}, [&](Value* jj, const Vals& m) {
                          return Vals{maxF(E, m[0], E.loadF(sc, b.CreateAdd(base, jj)))};
                        })[0];
                    Value* mOld = E.loadF(lse, i);
                    Value* m = maxF(E, mOld, bm);
                    Value* mSafe = b.CreateSelect(b.CreateFCmpOEQ(m, E.cf(-kInf)), E.cf(0.0), m);
                    Value* l =
                        E.reduce(E.ci(0), E.ci(Bk), {E.cf(0.0)}, [&](Value* jj, const Vals& l) {
                          return Vals{b.CreateFAdd(
                              l[0],
                              emitExp(b, b.CreateFSub(E.loadF(sc, b.CreateAdd(base, jj)), mSafe)))};
                        })[0];
                    Value* corr = emitExp(b, b.CreateFSub(mOld, mSafe));
                    E.storeF(lsum, i, b.CreateFAdd(b.CreateFMul(E.loadF(lsum, i), corr), l));
                    E.storeF(lse, i, m);
                  });
                },
                /*keepScalar=*/true);
          },
          /*keepScalar=*/true);
      // lse = m + log(l); +inf for a row with no visible key (weights 0) and for padding rows
      E.loop(Tqp, [&](Value* i) {
        Value* l = E.loadF(lsum, i);
        Value* m = E.loadF(lse, i);
        Value* ok = b.CreateAnd(b.CreateFCmpOGT(l, E.cf(0.0)), b.CreateICmpSLT(i, E.ci(a.Tq)));
        Value* mSafe = b.CreateSelect(b.CreateFCmpOEQ(m, E.cf(-kInf)), E.cf(0.0), m);
        E.storeF(lse, i, b.CreateSelect(ok, b.CreateFAdd(mSafe, emitLog(b, l)), E.cf(kInf)));
      });
      E.loop(
          E.ci(0), E.ci(a.Tq),
          [&](Value* i) {
            Value* ob = b.CreateMul(globalRow(i), E.ci(a.Dv));
            Value* di = E.reduce(E.ci(0), E.ci(a.Dv), {E.cf(0.0)}, [&](Value* d, const Vals& s) {
              Value* at = b.CreateAdd(ob, d);
              return Vals{b.CreateFAdd(s[0], b.CreateFMul(E.loadF(dout, at), E.loadF(o, at)))};
            })[0];
            E.storeF(dd, i, di);
          },
          /*keepScalar=*/true);
      // pass 2 (FlashAttention-2's backward): per key block, its dk and dv over the query tiles
      // that see it, and each tile's share of dq
      E.loop(
          E.ci(0), E.ci(blocks),
          [&](Value* blk) {
            Value* j0 = b.CreateMul(blk, E.ci(Bk));
            packKeys(j0);
            zeroRow(E, dkA, E.ci(0), Bk * Dp);
            zeroRow(E, dvA, E.ci(0), Bk * Dvp);
            E.loop(
                firstTile(j0), E.ci(tiles),
                [&](Value* t) {
                  Value* i0 = b.CreateMul(t, E.ci(Bq));
                  auto rowValid = [&](Value* r) {
                    return b.CreateICmpSLT(b.CreateAdd(i0, r), E.ci(a.Tq));
                  };
                  auto rowOf = [&](int64_t width) {
                    return [&, width](Value* r) {
                      return b.CreateMul(globalRow(b.CreateAdd(i0, r)), E.ci(width));
                    };
                  };
                  packRows(E, qt, Dp, q, rowOf(a.D), rowValid, Bq, a.D);
                  packRows(E, dot, Dvp, dout, rowOf(a.Dv), rowValid, Bq, a.Dv);
                  // dP = dout·vᵀ  [Bq, Bk]
                  gemm(E, strided(E, dp, E.ci(0), Bk), strided(E, dot, E.ci(0), Dvp),
                       strided(E, vt, E.ci(0), Bk), Bq, Bk, E.ci(a.Dv), false);
                  scores(
                      i0, j0, strided(E, qt, E.ci(0), Dp),
                      [&](Value*, Value* i, Value* rg, Value* base) {
                        Value* L = E.loadF(lse, i);
                        Value* Di = E.loadF(dd, query(i));
                        E.loop(Bk, [&](Value* jj) {
                          Value* at = b.CreateAdd(base, jj);
                          Value* pj = emitExp(b, b.CreateFSub(E.loadF(sc, at), L));
                          Value* f = masks.dropFactor(rg, b.CreateAdd(j0, jj));
                          E.storeF(sc, at, b.CreateFMul(pj, f));
                          Value* ds = b.CreateFMul(
                              b.CreateFMul(pj, b.CreateFSub(b.CreateFMul(E.loadF(dp, at), f), Di)),
                              E.cf(a.scale));
                          E.storeF(dp, at, ds);
                        });
                      });
                  // dv += p̃ᵀ·dout, dk += dSᵀ·q (the tile's rows are the sum), dq_tile = dS·k
                  gemm(E, strided(E, dvA, E.ci(0), Dvp), strided(E, sc, E.ci(0), 1, Bk),
                       strided(E, dot, E.ci(0), Dvp), Bk, Dvp, E.ci(Bq), true);
                  gemm(E, strided(E, dkA, E.ci(0), Dp), strided(E, dp, E.ci(0), 1, Bk),
                       strided(E, qt, E.ci(0), Dp), Bk, Dp, E.ci(Bq), true);
                  gemm(E, strided(E, dqT, E.ci(0), Dp), strided(E, dp, E.ci(0), Bk),
                       strided(E, kb, E.ci(0), Dp), Bq, Dp, E.ci(Bk), false);
                  Value* rows = minI(E, E.ci(Bq), b.CreateSub(E.ci(a.Tq), i0));
                  E.loop(
                      E.ci(0), rows,
                      [&](Value* r) {
                        Value* gb = b.CreateMul(globalRow(b.CreateAdd(i0, r)), E.ci(a.D));
                        Value* tb = b.CreateMul(r, E.ci(Dp));
                        E.loop(a.D, [&](Value* d) {
                          Value* at = b.CreateAdd(gb, d);
                          E.storeF(g, at,
                                   b.CreateFAdd(E.loadF(g, at), E.loadF(dqT, b.CreateAdd(tb, d))));
                        });
                      },
                      /*keepScalar=*/true);
                },
                /*keepScalar=*/true);
            // the block's dk and dv, each key row written once
            Value* keys = minI(E, E.ci(Bk), b.CreateSub(E.ci(a.Tk), j0));
            E.loop(
                E.ci(0), keys,
                [&](Value* jj) {
                  Value* gk = globalKey(b.CreateAdd(j0, jj));
                  Value* kOut = b.CreateAdd(E.ci(nq), b.CreateMul(gk, E.ci(a.D)));
                  Value* vOut = b.CreateAdd(E.ci(nq + nk), b.CreateMul(gk, E.ci(a.Dv)));
                  E.loop(a.D, [&](Value* d) {
                    E.storeF(g, b.CreateAdd(kOut, d),
                             E.loadF(dkA, b.CreateAdd(b.CreateMul(jj, E.ci(Dp)), d)));
                  });
                  E.loop(a.Dv, [&](Value* d) {
                    E.storeF(g, b.CreateAdd(vOut, d),
                             E.loadF(dvA, b.CreateAdd(b.CreateMul(jj, E.ci(Dvp)), d)));
                  });
                },
                /*keepScalar=*/true);
          },
          /*keepScalar=*/true);
    });
    return "";
  });
}

} // namespace gptc::codegen
