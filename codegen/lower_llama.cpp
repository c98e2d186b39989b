// codegen/lower_llama.cpp — lowerings of the ops of today's Transformer (ir/ops.def, section
// "today's Transformer"): rmsnorm and its gradients (row-wise, as layernorm in lower_norm.cpp),
// silu, its gradient and swiglu (emitMap), rope and alibi. Semantics match
// runtime/interp/interpreter_ops_llama.cpp.
//
// rope: the angle table is what costs (a cos and a sin in double, through libm, per position and
// pair, exactly the interpreter's values), so it is computed once per position into a small
// stack buffer and applied to every batch and head row of that position by a vectorizable loop.
// Positions are split over the threads. alibi: one f32 slope per head from a constant table, a
// vectorizable row of keys.
#include "codegen/lower.h"
#include "codegen/vector_math.h"
#include "ir/einsum.h"

#include <cmath>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

int64_t lastDim(const TensorType& t) {
  return t.shape.empty() ? 1 : t.shape.back();
}

/// 1/sqrt(mean(x²) + eps) of row x[base .. base+C), in f32 (a vectorized multiple-accumulator sum).
Value* rmsRstd(KernelEmitter& E, Value* x, Value* base, int64_t C, double eps) {
  auto& b = E.b();
  Value* sq = E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
    Value* v = E.loadF(x, b.CreateAdd(base, c));
    return Vals{b.CreateFAdd(acc[0], b.CreateFMul(v, v))};
  })[0];
  Value* ms = b.CreateFAdd(b.CreateFMul(sq, E.cf(1.0 / double(C))), E.cf(float(eps)));
  return b.CreateFDiv(E.cf(1.0), b.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, ms));
}

MapOperand contiguous(const KernelSpec& spec, int index) {
  return {index, stridesOf(spec.operands[index].shape), false};
}

/// sigmoid(x) = 1 / (1 + exp(-x)).
Value* sigmoid(KernelEmitter& E, Value* x) {
  auto& b = E.b();
  return b.CreateFDiv(E.cf(1.0), b.CreateFAdd(E.cf(1.0), emitExp(b, b.CreateFNeg(x))));
}

/// A constant f32 array in the module (rope's inverse frequencies are f64: `f64` set).
llvm::GlobalVariable* constTable(ModuleBuilder& mb, const std::string& name,
                                 const std::vector<double>& values, bool f64) {
  llvm::Constant* init;
  if (f64) {
    init = llvm::ConstantDataArray::get(mb.ctx(), llvm::ArrayRef<double>(values));
  } else {
    std::vector<float> f(values.begin(), values.end());
    init = llvm::ConstantDataArray::get(mb.ctx(), llvm::ArrayRef<float>(f));
  }
  auto* g = new llvm::GlobalVariable(mb.module(), init->getType(), /*isConstant=*/true,
                                     llvm::GlobalValue::InternalLinkage, init, name);
  g->setAlignment(llvm::Align(64));
  return g;
}

} // namespace

std::string lower_RMSNorm(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  // x (R,C), w (C) -> x·rstd·w
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* rstd = rmsRstd(E, E.operand(0), base, C, eps);
      E.loop(C, [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        E.storeF(
            E.result(), i,
            b.CreateFMul(b.CreateFMul(E.loadF(E.operand(0), i), rstd), E.loadF(E.operand(1), c)));
      });
    });
    return "";
  });
}

std::string lower_RMSNormGradX(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  // x (R,C), w (C), dy (R,C): dx = rstd·(g - xhat·mean(g·xhat)), g = dy·w, xhat = x·rstd
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.result), rows = spec.result.numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    E.parallelFor(rows, [&](Value* r) {
      Value* base = b.CreateMul(r, E.ci(C));
      Value* rstd = rmsRstd(E, E.operand(0), base, C, eps);
      auto gAndXhat = [&](Value* c) {
        Value* i = b.CreateAdd(base, c);
        Value* g = b.CreateFMul(E.loadF(E.operand(2), i), E.loadF(E.operand(1), c));
        return std::pair{g, b.CreateFMul(E.loadF(E.operand(0), i), rstd)};
      };
      Value* sum = E.reduce(E.ci(0), E.ci(C), {E.cf(0.0)}, [&](Value* c, const Vals& acc) {
        auto [g, xhat] = gAndXhat(c);
        return Vals{b.CreateFAdd(acc[0], b.CreateFMul(g, xhat))};
      })[0];
      Value* meanGX = b.CreateFMul(sum, E.cf(1.0 / double(C)));
      E.loop(C, [&](Value* c) {
        auto [g, xhat] = gAndXhat(c);
        E.storeF(E.result(), b.CreateAdd(base, c),
                 b.CreateFMul(rstd, b.CreateFSub(g, b.CreateFMul(xhat, meanGX))));
      });
    });
    return "";
  });
}

std::string lower_RMSNormGradW(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                               LoweredKernel* out) {
  // x (R,C), dy (R,C) -> dw (C) = Σ_rows dy·xhat, xhat = x·rstd (lower.h's emitNormGradW).
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t C = lastDim(spec.operands[0]), rows = spec.operands[0].numel() / C;
    double eps = attrFloat(spec.attrs, "eps");
    emitNormGradW(E, rows, C, [&](Value* base) -> XhatAt {
      Value* rstd = rmsRstd(E, E.operand(0), base, C, eps);
      return [&E, &b, rstd](Value* i) { return b.CreateFMul(E.loadF(E.operand(0), i), rstd); };
    });
    return "";
  });
}

std::string lower_Silu(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                       LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguous(spec, 0)},
            [&](const Vals& v, Value*) { return E.b().CreateFMul(v[0], sigmoid(E, v[0])); });
    return "";
  });
}

std::string lower_SiluGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                           LoweredKernel* out) {
  // dy·s·(1 + x·(1-s)), with 1-s = sigmoid(-x) computed as such (no cancellation for large x)
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguous(spec, 0), contiguous(spec, 1)},
            [&](const Vals& v, Value*) {
              auto& b = E.b();
              Value* s = sigmoid(E, v[0]);
              Value* oneMinusS = sigmoid(E, b.CreateFNeg(v[0]));
              Value* d = b.CreateFMul(s, b.CreateFAdd(E.cf(1.0), b.CreateFMul(v[0], oneMinusS)));
              return b.CreateFMul(v[1], d);
            });
    return "";
  });
}

std::string lower_SwiGLU(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguous(spec, 0), contiguous(spec, 1)},
            [&](const Vals& v, Value*) {
              auto& b = E.b();
              return b.CreateFMul(b.CreateFMul(v[0], sigmoid(E, v[0])), v[1]);
            });
    return "";
  });
}

std::string lower_Rope(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                       LoweredKernel* out) {
  // x (BH, T, D): for each position t (over threads), cos/sin of (pos+t)·invFreq[i] in double
  // into two stack rows of D/2, then every row (bh, t) rotated pair by pair.
  const Shape& xs = spec.operands[0].shape;
  int r = int(xs.size());
  int64_t T = xs[r - 2], D = xs[r - 1], half = D / 2, BH = spec.result.numel() / (T * D);
  double theta = attrFloat(spec.attrs, "theta");
  bool interleaved = attrInt(spec.attrs, "interleaved") != 0;
  bool inverse = attrInt(spec.attrs, "inverse") != 0;
  std::vector<double> invFreq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) // the interpreter's expression, so the same doubles
    invFreq[size_t(i)] = std::pow(theta, -double(2 * i) / double(D));
  llvm::GlobalVariable* freqs = constTable(mb, name + ".inv_freq", invFreq, true);
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    llvm::Type* f64 = b.getDoubleTy();
    // In the entry block, so the buffers are allocated once per call, not once per position.
    Value* cosRow = b.CreateAlloca(E.f32(), E.ci(half), "cos");
    Value* sinRow = b.CreateAlloca(E.f32(), E.ci(half), "sin");
    Value* pos =
        spec.operands.size() > 1 ? b.CreateSExt(E.loadI(E.operand(1), E.ci(0)), E.i64()) : E.ci(0);
    E.parallelFor(T, [&](Value* t) {
      Value* p = b.CreateSIToFP(b.CreateAdd(pos, t), f64);
      E.loop(half, [&](Value* i) {
        Value* f = b.CreateLoad(f64, b.CreateInBoundsGEP(f64, freqs, i));
        Value* angle = b.CreateFMul(p, f);
        Value* c = b.CreateFPTrunc(b.CreateUnaryIntrinsic(llvm::Intrinsic::cos, angle), E.f32());
        Value* s = b.CreateFPTrunc(b.CreateUnaryIntrinsic(llvm::Intrinsic::sin, angle), E.f32());
        E.storeF(cosRow, i, c);
        E.storeF(sinRow, i, inverse ? b.CreateFNeg(s) : s);
      });
      E.loop(BH, [&](Value* bh) {
        Value* base = b.CreateMul(b.CreateAdd(b.CreateMul(bh, E.ci(T)), t), E.ci(D));
        E.loop(half, [&](Value* i) {
          Value* ia =
              interleaved ? b.CreateAdd(base, b.CreateMul(i, E.ci(2))) : b.CreateAdd(base, i);
          Value* ib = interleaved ? b.CreateAdd(ia, E.ci(1)) : b.CreateAdd(ia, E.ci(half));
          Value* xa = E.loadF(E.operand(0), ia);
          Value* xb = E.loadF(E.operand(0), ib);
          Value* c = E.loadF(cosRow, i);
          Value* s = E.loadF(sinRow, i);
          E.storeF(E.result(), ia, b.CreateFSub(b.CreateFMul(xa, c), b.CreateFMul(xb, s)));
          E.storeF(E.result(), ib, b.CreateFAdd(b.CreateFMul(xb, c), b.CreateFMul(xa, s)));
        });
      });
    });
    return "";
  });
}

std::string lower_Alibi(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                        LoweredKernel* out) {
  // x (..., H, Tq, Tk): row (.., h, i) gets slope[h]·float(j - i - offset) added, j over the row.
  const Shape& xs = spec.result.shape;
  int r = int(xs.size());
  int64_t H = xs[r - 3], tq = xs[r - 2], tk = xs[r - 1], rows = spec.result.numel() / tk;
  int64_t offset = attrInt(spec.attrs, "offset");
  std::vector<double> slopes(static_cast<size_t>(H));
  for (int64_t h = 0; h < H; ++h)
    slopes[size_t(h)] = float(std::exp2(-8.0 * double(h + 1) / double(H)));
  llvm::GlobalVariable* table = constTable(mb, name + ".slopes", slopes, false);
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    E.parallelFor(rows, [&](Value* row) {
      Value* i = b.CreateURem(row, E.ci(tq));
      Value* h = b.CreateURem(b.CreateUDiv(row, E.ci(tq)), E.ci(H));
      Value* slope = E.loadF(table, h);
      Value* first = b.CreateAdd(i, E.ci(offset)); // the query's position
      Value* base = b.CreateMul(row, E.ci(tk));
      E.loop(tk, [&](Value* j) {
        Value* idx = b.CreateAdd(base, j);
        Value* dist = b.CreateSIToFP(b.CreateSub(j, first), E.f32());
        E.storeF(E.result(), idx,
                 b.CreateFAdd(E.loadF(E.operand(0), idx), b.CreateFMul(slope, dist)));
      });
    });
    return "";
  });
}

std::string lower_Einsum(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out) {
  // The fallback for a graph compiled without the lower-einsum pass (every pipeline runs it, so
  // models never get here): each output element sums the operands' product over the summed
  // axes, output elements split over the threads; offsets by constant div/mod (remap).
  Expected<EinsumSpec> s = parseEinsum(attrString(spec.attrs, "spec"), spec.operands);
  if (!s) return s.error().message;
  Shape outS = s->outputShape(), sumS;
  for (const std::string& a : s->summed)
    sumS.push_back(s->sizes.at(a));
  size_t n = spec.operands.size();
  std::vector<std::vector<int64_t>> outStr(n), sumStr(n);
  for (size_t k = 0; k < n; ++k) {
    outStr[k] = s->stridesFor(int(k), s->output);
    sumStr[k] = s->stridesFor(int(k), s->summed);
    if (outS.empty()) outStr[k] = {0};
    if (sumS.empty()) sumStr[k] = {0};
  }
  if (outS.empty()) outS = {1};
  if (sumS.empty()) sumS = {1};
  int64_t total = numelOf(outS), K = numelOf(sumS);
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    E.parallelFor(total, [&](Value* o) {
      std::vector<Value*> base;
      for (size_t k = 0; k < n; ++k)
        base.push_back(E.remap(o, outS, outStr[k]));
      Value* acc = E.reduce(E.ci(0), E.ci(K), {E.cf(0.0)}, [&](Value* j, const Vals& a) {
        Value* p = nullptr;
        for (size_t k = 0; k < n; ++k) {
          Value* v = E.loadF(E.operand(int(k)), b.CreateAdd(base[k], E.remap(j, sumS, sumStr[k])));
          p = p ? b.CreateFMul(p, v) : v;
        }
        return Vals{b.CreateFAdd(a[0], p)};
      })[0];
      E.storeF(E.result(), o, acc);
    });
    return "";
  });
}

} // namespace gptc::codegen
