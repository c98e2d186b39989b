// codegen/lower_optim.cpp — lowerings of the optimizer ops (ir/ops.def, section "optimizer";
// passes/optimizer.cpp makes them): AdamW's two moment updates and its parameter update, each an
// emitMap (lower_map.cpp) with a per-element formula; global_norm, a two-phase reduction
// (lower.h: per-block sums on every thread, one total); clip_scale on one thread. They match
// runtime/interp/interpreter_ops_optim.cpp (torch.optim.AdamW's single-tensor path) in semantics;
// single f32 operations are bit-identical to the interpreter. Leaves loops and threads to emitMap
// and KernelEmitter, and which params decay or clip to passes/optimizer.cpp.
#include "codegen/lower.h"

#include <cmath>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

/// The moments' gradient: g, or with a clip operand (a scalar, loaded once) g·clip rounded to f32
/// on its own — what the unfused mul(g, clip) kernel stored — then the unclipped formula. The
/// multiply carries no `reassoc`, so LLVM may not regroup take·(g·clip) as (take·clip)·g, which
/// would round differently: the clipped moments are bit-identical to mul + moment.
Value* momentGrad(KernelEmitter& E, Value* g, Value* clip) {
  if (!clip) return g;
  auto* m = llvm::cast<llvm::Instruction>(E.b().CreateFMul(g, clip));
  m->setHasAllowReassoc(false);
  return m;
}

/// The clip operand of a moment op (f32[], loaded once), or null.
Value* loadClip(KernelEmitter& E) {
  return E.spec().operands.size() > 2 ? E.loadF(E.operand(2), E.ci(0)) : nullptr;
}

} // namespace

namespace {

/// An AdamW moment: m·beta + (1-beta)·g (the first) or v·beta + (1-beta)·g·g (the second), g
/// clipped first when there is a clip operand.
std::string lowerMoment(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                        LoweredKernel* out, bool squared) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    double beta = attrFloat(spec.attrs, "beta");
    float keep = float(beta), take = float(1.0 - beta);
    Value* clip = loadClip(E);
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0), contiguousOperand(spec, 1)},
            [&](const Vals& v, Value*) {
              Value* g = momentGrad(E, v[1], clip);
              return b.CreateFAdd(b.CreateFMul(v[0], E.cf(keep)),
                                  b.CreateFMul(E.cf(take), squared ? b.CreateFMul(g, g) : g));
            });
    return "";
  });
}

} // namespace

std::string lower_AdamWMoment1(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  return lowerMoment(mb, spec, name, out, /*squared=*/false);
}

std::string lower_AdamWMoment2(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  return lowerMoment(mb, spec, name, out, /*squared=*/true);
}

std::string lower_AdamWUpdate(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                              LoweredKernel* out) {
  // p·(1 - lr·wd) - lr/(1-beta1^step) · m / (sqrt(v)/sqrt(1-beta2^step) + eps); the scalar
  // coefficients in double once per call (lr and step are runtime scalars), as the interpreter.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    llvm::Type* f64 = b.getDoubleTy();
    auto cd = [&](double v) { return llvm::ConstantFP::get(f64, v); };
    double beta1 = attrFloat(spec.attrs, "beta1"), beta2 = attrFloat(spec.attrs, "beta2");
    double eps = attrFloat(spec.attrs, "eps"), wd = attrFloat(spec.attrs, "wd");
    Value* lr = b.CreateFPExt(E.loadF(E.operand(3), E.ci(0)), f64);
    Value* step = b.CreateSIToFP(E.loadI(E.operand(4), E.ci(0)), f64);
    Value* decay = b.CreateFPTrunc(b.CreateFSub(cd(1.0), b.CreateFMul(lr, cd(wd))), E.f32());
    Value* bc1 =
        b.CreateFSub(cd(1.0), b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, cd(beta1), step));
    Value* bc2 =
        b.CreateFSub(cd(1.0), b.CreateBinaryIntrinsic(llvm::Intrinsic::pow, cd(beta2), step));
    Value* negStep = b.CreateFPTrunc(b.CreateFNeg(b.CreateFDiv(lr, bc1)), E.f32());
    Value* bc2Sqrt = b.CreateFPTrunc(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, bc2), E.f32());
    emitMap(E, spec.result.shape,
            {contiguousOperand(spec, 0), contiguousOperand(spec, 1), contiguousOperand(spec, 2)},
            [&](const Vals& v, Value*) {
              Value* denom = b.CreateFAdd(
                  b.CreateFDiv(b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, v[2]), bc2Sqrt),
                  E.cf(float(eps)));
              return b.CreateFAdd(b.CreateFMul(v[0], decay),
                                  b.CreateFMul(negStep, b.CreateFDiv(v[1], denom)));
            });
    return "";
  });
}

std::string lower_ClipScale(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                            LoweredKernel* out) {
  // min(max_norm / (norm + 1e-6), 1) as std::min: 1 < coef ? 1 : coef (a NaN norm stays NaN)
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    float maxNorm = float(attrFloat(spec.attrs, "max_norm"));
    E.onOneThread([&] {
      Value* coef =
          b.CreateFDiv(E.cf(maxNorm), b.CreateFAdd(E.loadF(E.operand(0), E.ci(0)), E.cf(1e-6f)));
      E.storeF(E.result(), E.ci(0),
               b.CreateSelect(b.CreateFCmpOLT(E.cf(1.0), coef), E.cf(1.0), coef));
    });
    return "";
  });
}

std::string lower_GlobalNorm(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // sqrt(Σ over every operand of x²) -> f32[]. The operands are cut into blocks of 4096 elements,
  // numbered across operands in order (block b of operand k is partial off[k] + b). Two phases
  // (lower.h): threads claim chunks of consecutive blocks and store each block's f32 sum of
  // squares (vector accumulators); after the barrier thread 0 adds the block sums in block order,
  // in double — a two-level sum, accurate for 100M elements, and the same for any thread count.
  constexpr int64_t kBlock = 4096;
  std::vector<int64_t> off{0};
  for (const TensorType& t : spec.operands)
    off.push_back(off.back() + (t.numel() + kBlock - 1) / kBlock);
  const int64_t blocks = off.back();
  auto blockSums = [&](KernelEmitter& E, Value* partial) {
    auto& b = E.b();
    E.parallelRanges(blocks, [&](Value* g0, Value* g1) {
      for (size_t k = 0; k < spec.operands.size(); ++k) {
        int64_t n = spec.operands[k].numel();
        Value* x = E.operand(int(k));
        // this chunk's blocks of operand k: [max(g0, off), min(g1, off')) - off
        auto clamp = [&](Value* g) {
          Value* lo = b.CreateSelect(b.CreateICmpSLT(g, E.ci(off[k])), E.ci(off[k]), g);
          Value* hi = b.CreateSelect(b.CreateICmpSGT(lo, E.ci(off[k + 1])), E.ci(off[k + 1]), lo);
          return b.CreateSub(hi, E.ci(off[k]));
        };
        Value* lo = clamp(g0);
        Value* hi = clamp(g1);
        E.loop(
            lo, hi,
            [&](Value* blk) {
              Value* first = b.CreateMul(blk, E.ci(kBlock));
              Value* lastRaw = b.CreateAdd(first, E.ci(kBlock));
              Value* last = b.CreateSelect(b.CreateICmpSLT(lastRaw, E.ci(n)), lastRaw, E.ci(n));
              Value* s = E.reduce(first, last, {E.cf(0.0)}, [&](Value* i, const Vals& a) {
                Value* v = E.loadF(x, i);
                return Vals{b.CreateFAdd(a[0], b.CreateFMul(v, v))};
              })[0];
              E.storeF(partial, b.CreateAdd(blk, E.ci(off[k])), s);
            },
            /*keepScalar=*/true); // bounds depend on the thread count (see parallelFor)
      }
    });
    return std::string();
  };
  auto norm = [&](KernelEmitter& E, Value* partial) {
    auto& b = E.b();
    llvm::Type* f64 = b.getDoubleTy();
    E.onOneThread([&] {
      Value* total = E.reduce(
          E.ci(0), E.ci(blocks), {llvm::ConstantFP::get(f64, 0.0)},
          [&](Value* i, const Vals& a) {
            return Vals{b.CreateFAdd(a[0], b.CreateFPExt(E.loadF(partial, i), f64))};
          },
          /*keepScalar=*/true)[0]; // in block order
      Value* r = b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, total);
      E.storeF(E.result(), E.ci(0), b.CreateFPTrunc(r, E.f32()));
    });
    return std::string();
  };
  return emitTwoPhase(mb, spec, name, out, blocks, blockSums, norm);
}

} // namespace gptc::codegen
