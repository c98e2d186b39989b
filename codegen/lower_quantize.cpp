// codegen/lower_quantize.cpp — kernels that read quantized weights (ir/ops.def's "quantized
// weights" rows, made by passes/quantize.cpp):
//   qmatmul / qlinear: the decode step's matrix-vector products, y[m,n] = Σ_k x[m,k]·w[n,k]
//     (+ b[n]), with w bf16 or i8 dequantized in registers — every weight byte is read once, which
//     is the point: batch-1 decoding is bound by the bytes it streams. One work item per output
//     column n (all rows m of x against w's row n), split over threads by the kernel's (tid,
//     nthreads) like the f32 GEMV (lower_gemv.cpp), so results do not depend on the thread count.
//     The inner loop is written with explicit <8 x float> vectors (AVX2's width; LLVM widens or
//     splits for other hosts): a unit of 32 weights is four independent FMA chains, and
//       bf16: w = bits << 16, reinterpreted as f32 (exact);
//       i8:   w = sitofp(q) · scale of its block, the scale broadcast once per block
//             (per-row scales: the row's dot product times the scale at the end).
//     Rows whose K is not a multiple of 32 (tests' odd shapes) take a scalar loop.
//   dequantize: an f32 copy, for the packed GEMM of prefill and evaluation (compute-bound there,
//     so the copy costs little; the packed kernel reads f32).
// AVX-512 BF16 (vdpbf16ps) and VNNI integer dot products would need the activations rounded to
// bf16 or quantized to i8 as well; this lowering keeps x in f32 (the interpreter's numbers) and
// leaves them to a later change.
#include "codegen/lower.h"

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
          Value* v = acc[m * chunks];
          for (int c = 1; c < chunks; ++c)
            v = b.CreateFAdd(v, acc[m * chunks + c]);
          Value* d = b.CreateFAddReduce(E.cf(0.0), v);
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

} // namespace

std::string lower_QMatMul(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  return emitQGemv(mb, spec, name, out, /*hasBias=*/false);
}

std::string lower_QLinear(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
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
