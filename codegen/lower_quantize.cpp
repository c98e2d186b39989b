// codegen/lower_quantize.cpp — kernels that read quantized weights (ir/ops.def's "quantized
// weights" rows, made by passes/quantize.cpp):
//   qmatmul / qlinear: the decode step's matrix-vector products, y[m,n] = Σ_k x[m,k]·w[n,k]
//     (+ b[n]), with w bf16 or i8 read in registers — every weight byte is read once, which is
//     the point: batch-1 decoding is bound by the bytes it streams. One work item per output
//     column n (all rows m of x against w's row n), split over threads by the kernel's (tid,
//     nthreads) like the f32 GEMV (lower_gemv.cpp), so results do not depend on the thread count.
//   - i8 weights with {xblock = 32} (what the quantize pass makes): integer dot products, ggml's
//     q8_0 × q8_0. Each thread first quantizes x into its scratch (CallForm::Scratch; K values per
//     row beside N·K weights, so doing it on every thread costs little): per piece of 32,
//     d_x = max|x|/127, q_x = round(x/d_x). Then per piece, 32 bytes of w and of q_x give eight
//     exact i32 sums of four products (AVX2: vpsignb/vpmaddubsw/vpmaddwd; elsewhere, plain
//     sign-extends and multiplies — the same integers), converted and FMA'd with d_w·d_x into
//     <8 x float> accumulators, two pieces per step (two FMA chains). Where the f32-x path below
//     spends a sign-extend, a convert and an FMA per 8 weights, a piece of 32 costs about a dozen
//     instructions here: on this Zen 3 VM GPT-2's 48 qlinear calls take 7.7 ms per token at 1
//     thread instead of 9.9–10.4 (each call's best of 40 steps, docs/generation.md). When K and the
//     block are multiples of 32, pieces never straddle a block and take this vector path; other
//     shapes (tests' odd K, blocks of 8, other xblock) a scalar loop over the same pieces and sums.
//     Rows of x go 4 at a time (an evaluation forced through this kernel has hundreds).
//   - bf16 weights, or i8 with xblock = 0 (x stays f32): explicit <8 x float> vectors (AVX2's
//     width; LLVM widens or splits for other hosts), a unit of 32 weights is four independent FMA
//     chains, and
//       bf16: w = bits << 16, reinterpreted as f32 (exact);
//       i8:   w = sitofp(q) · scale of its block, the scale broadcast once per block
//             (per-row scales: the row's dot product times the scale at the end).
//     Rows whose K is not a multiple of 32 (tests' odd shapes) take a scalar loop.
//   dequantize: an f32 copy, for the packed GEMM of prefill and evaluation (compute-bound there,
//     so the copy costs little; the packed kernel reads f32).
// AVX-512 BF16 (vdpbf16ps) would need x rounded to bf16, and VNNI (vpdpbusd) would fold
// vpmaddubsw + vpmaddwd into one instruction; neither is used yet (this VM has neither).
#include "codegen/lower.h"

#include <llvm/IR/IntrinsicsX86.h>

#include <cstdlib>

namespace gptc::codegen {

using llvm::Value;

namespace {

constexpr int kLanes = 8; // floats per vector
constexpr int kUnit = 32; // weights per unrolled step: 4 vectors, 4 independent FMA chains

/// One weight as f32 from element `idx` of a bf16 or i8 array.
Value* loadWeight(KernelEmitter& E, DType dt, Value* base, Value* idx) {
  auto& b = E.b();
  if (dt == DType::bf16) {
    Value* bits = b.CreateLoad(b.getInt16Ty(), b.CreateInBoundsGEP(b.getInt16Ty(), base, idx));
    return b.CreateBitCast(b.CreateShl(b.CreateZExt(bits, E.i32()), 16), E.f32());
  }
  Value* q = b.CreateLoad(b.getInt8Ty(), b.CreateInBoundsGEP(b.getInt8Ty(), base, idx));
  return b.CreateSIToFP(q, E.f32());
}

/// kLanes weights as <kLanes x float> from elements idx.. of a bf16 or i8 array.
Value* loadWeightVec(KernelEmitter& E, DType dt, Value* base, Value* idx) {
  auto& b = E.b();
  auto* vf = llvm::FixedVectorType::get(E.f32(), kLanes);
  auto* vi32 = llvm::FixedVectorType::get(E.i32(), kLanes);
  if (dt == DType::bf16) {
    auto* vt = llvm::FixedVectorType::get(b.getInt16Ty(), kLanes);
    Value* bits =
        b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(b.getInt16Ty(), base, idx), llvm::Align(2));
    Value* wide = b.CreateShl(b.CreateZExt(bits, vi32), b.CreateVectorSplat(kLanes, E.ci32(16)));
    return b.CreateBitCast(wide, vf);
  }
  auto* vt = llvm::FixedVectorType::get(b.getInt8Ty(), kLanes);
  Value* q = b.CreateAlignedLoad(vt, b.CreateInBoundsGEP(b.getInt8Ty(), base, idx), llvm::Align(1));
  return b.CreateSIToFP(q, vf);
}

/// A row's dot product from its `n` independent FMA chains acc[first .. first+n): the vectors
/// added in chain order, then the lanes (a fixed order, whatever the thread count).
Value* sumChains(KernelEmitter& E, const std::vector<Value*>& acc, int64_t first, int64_t n) {
  auto& b = E.b();
  Value* v = acc[first];
  for (int64_t c = 1; c < n; ++c)
    v = b.CreateFAdd(v, acc[first + c]);
  return b.CreateFAddReduce(E.cf(0.0), v);
}

Value* fma(KernelEmitter& E, Value* a, Value* b, Value* c) {
  return E.b().CreateIntrinsic(llvm::Intrinsic::fmuladd, {a->getType()}, {a, b, c});
}

/// y = x·wᵀ (+ bias) for x [M,K] (M = all rows of x), w [N,K] bf16/i8, scale [N, K/block].
std::string emitQGemv(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                      LoweredKernel* out, bool hasBias) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const TensorType& wt = spec.operands[1];
    const DType dt = wt.dtype;
    const int64_t N = wt.shape[0], K = wt.shape[1], M = spec.operands[0].numel() / K;
    const int scaleOp = hasBias ? 3 : 2;
    const bool scaled = int(spec.operands.size()) > scaleOp;
    const int64_t blocks = scaled ? spec.operands[scaleOp].shape.back() : 1;
    const int64_t block = K / blocks;
    Value *X = E.operand(0), *W = E.operand(1), *Y = E.result();
    Value* bias = hasBias ? E.operand(2) : nullptr;
    Value* S = scaled ? E.operand(scaleOp) : nullptr;
    const bool vector = K % kUnit == 0 && (!scaled || block % kUnit == 0);
    auto* vf = llvm::FixedVectorType::get(E.f32(), kLanes);

    E.parallelFor(N, [&](Value* n) {
      Value* wRow = b.CreateMul(n, E.ci(K));
      Value* sRow = scaled ? b.CreateMul(n, E.ci(blocks)) : nullptr;
      std::vector<Value*> dots(static_cast<size_t>(M), nullptr); // Σ_k x[m,k]·w[n,k], scale applied
      if (vector) {
        // Accumulators: kUnit/kLanes vectors per row m. With per-block scales (block < K) each
        // unit's weights are scaled before the FMA; with one scale per row, the sum is scaled
        // once at the end.
        const int chunks = kUnit / kLanes;
        const bool perBlock = scaled && block < K;
        std::vector<Value*> init(size_t(M * chunks), llvm::ConstantFP::get(vf, 0.0));
        std::vector<Value*> acc = E.reduce(
            E.ci(0), E.ci(K / kUnit), init,
            [&](Value* u, const std::vector<Value*>& a) {
              Value* k0 = b.CreateMul(u, E.ci(kUnit));
              Value* s = nullptr;
              if (perBlock)
                s = b.CreateVectorSplat(
                    kLanes, E.loadF(S, b.CreateAdd(sRow, b.CreateUDiv(k0, E.ci(block)))));
              std::vector<Value*> next = a;
              for (int c = 0; c < chunks; ++c) {
                Value* k = b.CreateAdd(k0, E.ci(c * kLanes));
                Value* w = loadWeightVec(E, dt, W, b.CreateAdd(wRow, k));
                if (s) w = b.CreateFMul(w, s);
                for (int64_t m = 0; m < M; ++m) {
                  Value* x = b.CreateAlignedLoad(
                      vf, b.CreateInBoundsGEP(E.f32(), X, b.CreateAdd(E.ci(m * K), k)),
                      llvm::Align(4));
                  next[m * chunks + c] = fma(E, x, w, a[m * chunks + c]);
                }
              }
              return next;
            },
            /*keepScalar=*/true);
        for (int64_t m = 0; m < M; ++m) {
          Value* d = sumChains(E, acc, m * chunks, chunks);
          if (scaled && !perBlock) d = b.CreateFMul(d, E.loadF(S, sRow));
          dots[m] = d;
        }
      } else {
        for (int64_t m = 0; m < M; ++m)
          dots[m] = E.reduce(E.ci(0), E.ci(blocks), {E.cf(0.0)}, [&](Value* kb, const auto& a) {
            Value* k0 = b.CreateMul(kb, E.ci(block));
            Value* part = E.reduce(k0, b.CreateAdd(k0, E.ci(block)), {E.cf(0.0)},
                                   [&](Value* k, const auto& p) {
                                     Value* x = E.loadF(X, b.CreateAdd(E.ci(m * K), k));
                                     Value* w = loadWeight(E, dt, W, b.CreateAdd(wRow, k));
                                     return std::vector<Value*>{fma(E, x, w, p[0])};
                                   })[0];
            if (S) part = b.CreateFMul(part, E.loadF(S, b.CreateAdd(sRow, kb)));
            return std::vector<Value*>{b.CreateFAdd(a[0], part)};
          })[0];
      }
      Value* bn = bias ? E.loadF(bias, n) : nullptr;
      for (int64_t m = 0; m < M; ++m)
        E.storeF(Y, b.CreateAdd(E.ci(m * N), n), bn ? b.CreateFAdd(dots[m], bn) : dots[m]);
    });
    return "";
  });
}

// ---- x quantized too (xblock > 0, i8 weights): integer dot products ----

constexpr int kPiece = 32; // the vector path's piece of x: one <32 x i8> load of w and of q_x

/// Where a thread's quantized x lives in its scratch: q_x [M, K] i8, then d_x [M, P] f32 (P pieces
/// per row, in order: blocks of w, each cut into pieces of `piece` from its start).
struct QxLayout {
  int64_t M, K, block, piece, perBlock, P, dOffset, bytes;
  QxLayout(int64_t m, int64_t k, int64_t blk, int64_t pc)
      : M(m), K(k), block(blk), piece(pc), perBlock((blk + pc - 1) / pc), P(k / blk * perBlock),
        dOffset((m * k + 63) / 64 * 64), bytes(dOffset + m * P * 4) {}
};

/// Whether this host's kernels take AVX2's byte dot products (GPTC_I8DOT=generic: the plain
/// vector form instead, which gives the same integers: tests run both here).
bool useAvx2Dot() {
  const char* env = std::getenv("GPTC_I8DOT");
  return hostTarget().avx2 && !(env && std::string(env) == "generic");
}

/// Σ of w·q over four consecutive bytes, for 32 bytes of w and q_x: <8 x i32>, lane i holding
/// bytes 4i..4i+3. AVX2: |w| (unsigned) times q_x with w's sign (vpsignb), pairs summed to i16
/// (vpmaddubsw; |w| <= 128 and |q_x| <= 127, so a pair is at most 32512 and never saturates),
/// then pairs of those to i32 (vpmaddwd by 1) — ggml's q8_0 × q8_0 dot. Elsewhere: the same sums
/// with sign-extends and multiplies (exact, so the two paths give the same integers).
Value* dot32(KernelEmitter& E, Value* w, Value* q, bool avx2) {
  auto& b = E.b();
  if (avx2) {
    auto* v16i16 = llvm::FixedVectorType::get(b.getInt16Ty(), 16);
    Value* aw = b.CreateBinaryIntrinsic(llvm::Intrinsic::abs, w, b.getFalse());
    Value* sq = b.CreateIntrinsic(llvm::Intrinsic::x86_avx2_psign_b, {}, {q, w});
    Value* p16 = b.CreateIntrinsic(llvm::Intrinsic::x86_avx2_pmadd_ub_sw, {}, {aw, sq});
    return b.CreateIntrinsic(llvm::Intrinsic::x86_avx2_pmadd_wd, {},
                             {p16, llvm::ConstantInt::get(v16i16, 1)});
  }
  auto* v32i32 = llvm::FixedVectorType::get(E.i32(), 32);
  Value* prod = b.CreateMul(b.CreateSExt(w, v32i32), b.CreateSExt(q, v32i32));
  Value* sum = nullptr;
  for (int j = 0; j < 4; ++j) {
    llvm::SmallVector<int, 8> idx;
    for (int i = 0; i < 8; ++i)
      idx.push_back(4 * i + j);
    Value* part = b.CreateShuffleVector(prod, idx);
    sum = sum ? b.CreateAdd(sum, part) : part;
  }
  return sum;
}

/// x [M, K] quantized into the scratch (L): per piece, amax = max|x| (llvm.maximum: a NaN stays),
/// d = amax/127, id = d != 0 ? 1/d : 0, q = clamp(round(x·id), ±127) with NaN -> 0 — the float
/// operations of the interpreter's quantizePieces, so both get the same integers and scales.
void emitQuantizeX(KernelEmitter& E, const QxLayout& L, Value* X, Value* Q, Value* D, bool vector) {
  auto& b = E.b();
  auto scaleOf = [&](Value* amax) {
    Value* d = b.CreateFDiv(amax, E.cf(127.0));
    Value* id =
        b.CreateSelect(b.CreateFCmpONE(d, E.cf(0.0)), b.CreateFDiv(E.cf(1.0), d), E.cf(0.0));
    return std::pair<Value*, Value*>{d, id};
  };
  auto toInt8 = [&](Value* v, Value* id) { // v·id rounded, clamped, NaN -> 0, as i8 (or vector)
    Value* r = b.CreateUnaryIntrinsic(llvm::Intrinsic::round, b.CreateFMul(v, id));
    llvm::Type* ft = r->getType();
    r = b.CreateSelect(b.CreateFCmpUNO(r, r), llvm::ConstantFP::get(ft, 0.0), r);
    r = b.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, r, llvm::ConstantFP::get(ft, -127.0));
    r = b.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, r, llvm::ConstantFP::get(ft, 127.0));
    llvm::Type* it = b.getInt8Ty();
    if (auto* vt = llvm::dyn_cast<llvm::FixedVectorType>(ft))
      it = llvm::FixedVectorType::get(it, vt->getNumElements());
    return b.CreateFPToSI(r, it);
  };
  if (vector) { // pieces of 32, contiguous: piece f of all M·P covers x[32f, 32f + 32)
    auto* vf = llvm::FixedVectorType::get(E.f32(), kLanes);
    E.loop(L.M * L.P, [&](Value* f) {
      Value* k0 = b.CreateMul(f, E.ci(kPiece));
      std::vector<Value*> xs;
      Value* m = nullptr;
      for (int c = 0; c < kPiece / kLanes; ++c) {
        xs.push_back(b.CreateAlignedLoad(
            vf, b.CreateInBoundsGEP(E.f32(), X, b.CreateAdd(k0, E.ci(c * kLanes))),
            llvm::Align(4)));
        Value* a = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, xs.back());
        m = m ? b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, m, a) : a;
      }
      Value* amax = b.CreateUnaryIntrinsic(llvm::Intrinsic::vector_reduce_fmaximum, m);
      auto [d, id] = scaleOf(amax);
      Value* idv = b.CreateVectorSplat(kLanes, id);
      for (int c = 0; c < kPiece / kLanes; ++c)
        b.CreateAlignedStore(
            toInt8(xs[c], idv),
            b.CreateInBoundsGEP(b.getInt8Ty(), Q, b.CreateAdd(k0, E.ci(c * kLanes))),
            llvm::Align(1));
      E.storeF(D, f, d);
    });
    return;
  }
  // Any block and piece: rows m, blocks, pieces of a block (the last one shorter).
  E.loop(L.M, [&](Value* m) {
    E.loop(L.K / L.block, [&](Value* blk) {
      E.loop(L.perBlock, [&](Value* pp) {
        Value* p0 =
            b.CreateAdd(b.CreateMul(m, E.ci(L.K)), b.CreateAdd(b.CreateMul(blk, E.ci(L.block)),
                                                               b.CreateMul(pp, E.ci(L.piece))));
        Value* len =
            b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, E.ci(L.piece),
                                    b.CreateSub(E.ci(L.block), b.CreateMul(pp, E.ci(L.piece))));
        Value* p1 = b.CreateAdd(p0, len);
        Value* amax = E.reduce(p0, p1, {E.cf(0.0)}, [&](Value* k, const std::vector<Value*>& a) {
          Value* v = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, E.loadF(X, k));
          return std::vector<Value*>{b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, a[0], v)};
        })[0];
        auto [d, id] = scaleOf(amax);
        E.loop(p0, p1, [&](Value* k) {
          b.CreateStore(toInt8(E.loadF(X, k), id), b.CreateInBoundsGEP(b.getInt8Ty(), Q, k));
        });
        Value* f = b.CreateAdd(b.CreateMul(m, E.ci(L.P)),
                               b.CreateAdd(b.CreateMul(blk, E.ci(L.perBlock)), pp));
        E.storeF(D, f, d);
      });
    });
  });
}

/// qmatmul / qlinear with xblock > 0: x quantized per piece into this thread's scratch (every
/// thread does it for itself: K values, beside N·K weights), then per output column n and row m,
/// Σ over pieces of d_w·d_x·(Σ q_w·q_x), the integer sums exact.
std::string emitQGemvInt(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out, bool hasBias) {
  KernelEmitter E(mb, spec, name, /*withScratch=*/true);
  auto& b = E.b();
  const TensorType& wt = spec.operands[1];
  const int64_t N = wt.shape[0], K = wt.shape[1], M = spec.operands[0].numel() / K;
  const int scaleOp = hasBias ? 3 : 2;
  const int64_t blocks = spec.operands[scaleOp].shape.back(), block = K / blocks;
  const QxLayout L(M, K, block, attrInt(spec.attrs, "xblock"));
  Value *X = E.operand(0), *W = E.operand(1), *S = E.operand(scaleOp), *Y = E.result();
  Value* bias = hasBias ? E.operand(2) : nullptr;
  Value* Q = E.scratch();
  Value* D = b.CreateInBoundsGEP(b.getInt8Ty(), Q, E.ci(L.dOffset));
  // The vector path: pieces of 32 that never straddle a block (per-row scales: block = K).
  const bool vector = L.piece == kPiece && block % kPiece == 0;
  const bool avx2 = useAvx2Dot();
  emitQuantizeX(E, L, X, Q, D, vector);
  auto* vf = llvm::FixedVectorType::get(E.f32(), kLanes);
  auto* v32i8 = llvm::FixedVectorType::get(b.getInt8Ty(), kPiece);

  // Rows m0 .. m0+G-1 of x against w's row n (G <= 4 rows at a time: one set of accumulators
  // each; an evaluation with many rows loops over groups).
  auto rows = [&](Value* n, Value* m0, int64_t G) {
    auto row = [&](int64_t m) { return b.CreateAdd(m0, E.ci(m)); };
    Value* wRow = b.CreateMul(n, E.ci(K));
    Value* sRow = b.CreateMul(n, E.ci(blocks));
    std::vector<Value*> dots(size_t(G), nullptr);
    if (vector) {
      // U pieces per step, each with its own <8 x float> accumulator per row m (two independent
      // FMA chains: one per piece would wait on the FMA's latency). Per-block scales multiply
      // d_x before the FMA; one scale per row multiplies the sum at the end.
      const bool perBlock = block < K;
      const int U = L.P % 2 == 0 ? 2 : 1;
      std::vector<Value*> init(size_t(G * U), llvm::ConstantFP::get(vf, 0.0));
      std::vector<Value*> acc = E.reduce(
          E.ci(0), E.ci(L.P / U), init,
          [&](Value* j, const std::vector<Value*>& a) {
            std::vector<Value*> next = a;
            for (int u = 0; u < U; ++u) {
              Value* p = b.CreateAdd(b.CreateMul(j, E.ci(U)), E.ci(u));
              Value* k0 = b.CreateMul(p, E.ci(kPiece));
              Value* w = b.CreateAlignedLoad(
                  v32i8, b.CreateInBoundsGEP(b.getInt8Ty(), W, b.CreateAdd(wRow, k0)),
                  llvm::Align(1));
              Value* dw =
                  perBlock ? E.loadF(S, b.CreateAdd(sRow, b.CreateUDiv(k0, E.ci(block)))) : nullptr;
              for (int64_t m = 0; m < G; ++m) {
                Value* q = b.CreateAlignedLoad(
                    v32i8,
                    b.CreateInBoundsGEP(b.getInt8Ty(), Q,
                                        b.CreateAdd(b.CreateMul(row(m), E.ci(K)), k0)),
                    llvm::Align(1));
                Value* f = E.loadF(D, b.CreateAdd(b.CreateMul(row(m), E.ci(L.P)), p));
                if (dw) f = b.CreateFMul(dw, f);
                Value* dot = b.CreateSIToFP(dot32(E, w, q, avx2), vf);
                next[m * U + u] = fma(E, b.CreateVectorSplat(kLanes, f), dot, a[m * U + u]);
              }
            }
            return next;
          },
          /*keepScalar=*/true);
      for (int64_t m = 0; m < G; ++m) {
        Value* d = sumChains(E, acc, m * U, U);
        if (!perBlock) d = b.CreateFMul(d, E.loadF(S, sRow));
        dots[m] = d;
      }
    } else {
      // Any block and piece: per block, Σ over its pieces of d_x·(Σ q_w·q_x), times d_w.
      for (int64_t m = 0; m < G; ++m)
        dots[m] = E.reduce(E.ci(0), E.ci(blocks), {E.cf(0.0)}, [&](Value* kb, const auto& a) {
          Value* part =
              E.reduce(E.ci(0), E.ci(L.perBlock), {E.cf(0.0)}, [&](Value* pp, const auto& pa) {
                Value* p0 =
                    b.CreateAdd(b.CreateMul(kb, E.ci(L.block)), b.CreateMul(pp, E.ci(L.piece)));
                Value* len = b.CreateBinaryIntrinsic(
                    llvm::Intrinsic::smin, E.ci(L.piece),
                    b.CreateSub(E.ci(L.block), b.CreateMul(pp, E.ci(L.piece))));
                Value* dot =
                    E.reduce(p0, b.CreateAdd(p0, len), {E.ci32(0)}, [&](Value* k, const auto& da) {
                      Value* w =
                          b.CreateLoad(b.getInt8Ty(),
                                       b.CreateInBoundsGEP(b.getInt8Ty(), W, b.CreateAdd(wRow, k)));
                      Value* q = b.CreateLoad(
                          b.getInt8Ty(),
                          b.CreateInBoundsGEP(b.getInt8Ty(), Q,
                                              b.CreateAdd(b.CreateMul(row(m), E.ci(K)), k)));
                      return std::vector<Value*>{b.CreateAdd(
                          da[0], b.CreateMul(b.CreateSExt(w, E.i32()), b.CreateSExt(q, E.i32())))};
                    })[0];
                Value* f =
                    E.loadF(D, b.CreateAdd(b.CreateMul(row(m), E.ci(L.P)),
                                           b.CreateAdd(b.CreateMul(kb, E.ci(L.perBlock)), pp)));
                return std::vector<Value*>{fma(E, f, b.CreateSIToFP(dot, E.f32()), pa[0])};
              })[0];
          Value* dw = E.loadF(S, b.CreateAdd(sRow, kb));
          return std::vector<Value*>{fma(E, dw, part, a[0])};
        })[0];
    }
    Value* bn = bias ? E.loadF(bias, n) : nullptr;
    for (int64_t m = 0; m < G; ++m)
      E.storeF(Y, b.CreateAdd(b.CreateMul(row(m), E.ci(N)), n),
               bn ? b.CreateFAdd(dots[m], bn) : dots[m]);
  };
  constexpr int64_t kGroup = 4;
  E.parallelFor(N, [&](Value* n) {
    if (M <= kGroup) {
      rows(n, E.ci(0), M);
      return;
    }
    E.loop(
        E.ci(0), E.ci(M / kGroup), [&](Value* g) { rows(n, b.CreateMul(g, E.ci(kGroup)), kGroup); },
        /*keepScalar=*/true);
    if (M % kGroup) rows(n, E.ci(M - M % kGroup), M % kGroup);
  });
  if (std::string e = E.finish(); !e.empty()) return e;
  out->fn = E.function();
  out->form = CallForm::Scratch;
  out->workSlots = E.slots();
  out->scratchBytes = L.bytes;
  return "";
}

} // namespace

std::string lower_QMatMul(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  if (attrInt(spec.attrs, "xblock") > 0)
    return emitQGemvInt(mb, spec, name, out, /*hasBias=*/false);
  return emitQGemv(mb, spec, name, out, /*hasBias=*/false);
}

std::string lower_QLinear(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  if (attrInt(spec.attrs, "xblock") > 0) return emitQGemvInt(mb, spec, name, out, /*hasBias=*/true);
  return emitQGemv(mb, spec, name, out, /*hasBias=*/true);
}

std::string lower_Dequantize(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const TensorType& wt = spec.operands[0];
    const int64_t K = wt.shape.back(), rows = wt.numel() / K;
    const bool scaled = spec.operands.size() > 1;
    const int64_t blocks = scaled ? spec.operands[1].shape.back() : 1, block = K / blocks;
    Value *W = E.operand(0), *Y = E.result();
    E.parallelFor(rows, [&](Value* r) {
      Value* row = b.CreateMul(r, E.ci(K));
      E.loop(K, [&](Value* k) {
        Value* idx = b.CreateAdd(row, k);
        Value* w = loadWeight(E, wt.dtype, W, idx);
        if (scaled) {
          Value* s = E.loadF(E.operand(1), b.CreateAdd(b.CreateMul(r, E.ci(blocks)),
                                                       b.CreateUDiv(k, E.ci(block))));
          w = b.CreateFMul(w, s);
        }
        E.storeF(Y, idx, w);
      });
    });
    return "";
  });
}

} // namespace gptc::codegen
