// codegen/lower_elementwise.cpp — lowerings of the elementwise and broadcasting ops: arithmetic,
// activations and their gradients, dropout, masks, fill, and the AdamW / clipping ops. Every one
// is an emitMap (lower_map.cpp) with a per-element formula, matching runtime/
// interpreter_ops_elementwise.cpp and interpreter_ops_optim.cpp in semantics; single f32 ops
// (add, scale, dropout's scaling, masks) are bit-identical to the interpreter, formulas with
// transcendentals are within a few ulp (vector_math.h). Leaves loops and threads to emitMap.
#include "codegen/lower.h"
#include "codegen/vector_math.h"

#include <cmath>
#include <limits>

namespace gptc::codegen {

using llvm::Value;
using Vals = std::vector<Value*>;

namespace {

constexpr double kSqrt2OverPi = 0.7978845608028654;
constexpr double kGeluCubic = 0.044715;

std::string binary(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                   LoweredKernel* out, llvm::Instruction::BinaryOps op) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {broadcastOperand(spec, 0), broadcastOperand(spec, 1)},
            [&](const Vals& v, Value*) { return E.b().CreateBinOp(op, v[0], v[1]); });
    return "";
  });
}

/// u = sqrt(2/pi)(x + 0.044715x^3), and sigmoid(2u) = 0.5(1 + tanh u) without the cancellation
/// of 1 + tanh(u) for negative x (the interpreter's double tanh does not lose those digits).
Value* geluSigmoid(KernelEmitter& E, Value* x, Value** uOut = nullptr) {
  auto& b = E.b();
  Value* u = b.CreateFMul(
      E.cf(kSqrt2OverPi),
      b.CreateFAdd(x, b.CreateFMul(E.cf(kGeluCubic), b.CreateFMul(x, b.CreateFMul(x, x)))));
  if (uOut) *uOut = u;
  Value* e = emitExp(b, b.CreateFMul(u, E.cf(-2.0)));
  return b.CreateFDiv(E.cf(1.0), b.CreateFAdd(E.cf(1.0), e));
}

} // namespace

std::string lower_Add(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                      LoweredKernel* o) {
  return binary(mb, s, n, o, llvm::Instruction::FAdd);
}
std::string lower_Sub(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                      LoweredKernel* o) {
  return binary(mb, s, n, o, llvm::Instruction::FSub);
}
std::string lower_Mul(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                      LoweredKernel* o) {
  return binary(mb, s, n, o, llvm::Instruction::FMul);
}
std::string lower_Div(ModuleBuilder& mb, const KernelSpec& s, const std::string& n,
                      LoweredKernel* o) {
  return binary(mb, s, n, o, llvm::Instruction::FDiv);
}

std::string lower_Scale(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                        LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    float s = float(attrFloat(spec.attrs, "s")); // rounded to f32 first, as the interpreter does
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0)},
            [&](const Vals& v, Value*) { return E.b().CreateFMul(v[0], E.cf(s)); });
    return "";
  });
}

std::string lower_Gelu(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                       LoweredKernel* out) {
  // 0.5x(1 + tanh u) = x·sigmoid(2u)
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0)},
            [&](const Vals& v, Value*) { return E.b().CreateFMul(v[0], geluSigmoid(E, v[0])); });
    return "";
  });
}

std::string lower_Relu(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                       LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0)}, [&](const Vals& v, Value*) {
      auto& b = E.b(); // x > 0 ? x : 0 (NaN -> 0, as the interpreter)
      return b.CreateSelect(b.CreateFCmpOGT(v[0], E.cf(0.0)), v[0], E.cf(0.0));
    });
    return "";
  });
}

std::string lower_GeluGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                           LoweredKernel* out) {
  // gelu'(x) = 0.5(1+t) + 0.5x(1-t²)u' with t = tanh u; with s = sigmoid(2u): 0.5(1+t) = s and
  // 1-t² = 4s(1-s), 1-s = sigmoid(-2u), so gelu' = s + 2x·s·(1-s)·u', u' =
  // sqrt(2/pi)(1+3·0.044715x²).
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0), contiguousOperand(spec, 1)},
            [&](const Vals& v, Value*) {
              auto& b = E.b();
              Value* x = v[0];
              Value* u = nullptr;
              Value* s = geluSigmoid(E, x, &u);
              Value* oneMinusS = b.CreateFDiv(
                  E.cf(1.0), b.CreateFAdd(E.cf(1.0), emitExp(b, b.CreateFMul(u, E.cf(2.0)))));
              Value* du = b.CreateFMul(E.cf(kSqrt2OverPi),
                                       b.CreateFAdd(E.cf(1.0), b.CreateFMul(E.cf(3.0 * kGeluCubic),
                                                                            b.CreateFMul(x, x))));
              Value* d = b.CreateFAdd(
                  s, b.CreateFMul(
                         b.CreateFMul(b.CreateFMul(E.cf(2.0), x), b.CreateFMul(s, oneMinusS)), du));
              return b.CreateFMul(v[1], d);
            });
    return "";
  });
}

std::string lower_ReluGrad(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                           LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0), contiguousOperand(spec, 1)},
            [&](const Vals& v, Value*) {
              auto& b = E.b();
              return b.CreateSelect(b.CreateFCmpOGT(v[0], E.cf(0.0)), v[1], E.cf(0.0));
            });
    return "";
  });
}

Value* dropoutUniform(KernelEmitter& E, Value* index, Value* saltMix, Value* seedMix) {
  auto& b = E.b();
  Value* x = b.CreateXor(b.CreateXor(b.CreateMul(index, E.ci32(0x9E3779B1u)), saltMix), seedMix);
  x = b.CreateXor(x, b.CreateLShr(x, 16));
  x = b.CreateMul(x, E.ci32(0x85EBCA6Bu));
  x = b.CreateXor(x, b.CreateLShr(x, 13));
  x = b.CreateMul(x, E.ci32(0xC2B2AE35u));
  x = b.CreateXor(x, b.CreateLShr(x, 16));
  return b.CreateFMul(b.CreateUIToFP(b.CreateLShr(x, 8), E.f32()), E.cf(1.0 / 16777216.0));
}

std::string lower_Dropout(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  // keep = (hash(seed, salt, i) >> 8)·2^-24 >= p, the integer mixer of ir/rng.h written in IR, so
  // the mask is the interpreter's bit for bit; kept values times float(1/(1-p)).
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    float p = float(attrFloat(spec.attrs, "p"));
    float keepScale = float(1.0 / (1.0 - double(p)));
    uint32_t salt = uint32_t(attrInt(spec.attrs, "salt"));
    Value* seed = E.loadI(E.operand(1), E.ci(0));
    Value* seedMix = b.CreateMul(seed, E.ci32(0xC2B2AE3Du));
    Value* saltMix = E.ci32(uint32_t(salt * 0x85EBCA77u));
    // row0 (optional operand 2): the index in the whole batch, i + row0·(numel / dim 0)
    Value* base = E.ci32(0);
    if (spec.operands.size() > 2 && spec.result.rank() > 0)
      base = b.CreateMul(E.loadI(E.operand(2), E.ci(0)),
                         E.ci32(spec.result.numel() / spec.result.shape[0]));
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0)}, [&](const Vals& v, Value* flat) {
      Value* i = b.CreateAdd(b.CreateTrunc(flat, E.i32()), base);
      Value* keep = b.CreateFCmpOGE(dropoutUniform(E, i, saltMix, seedMix), E.cf(p));
      return b.CreateSelect(keep, b.CreateFMul(v[0], E.cf(keepScale)), E.cf(0.0));
    });
    return "";
  });
}

std::string lower_CausalMask(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                             LoweredKernel* out) {
  // x (...,Tq,Tk): -inf where key j > query i + offset.
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    const Shape& s = spec.result.shape;
    int64_t tq = s[s.size() - 2], tk = s.back(), rows = spec.result.numel() / tk;
    int64_t offset = attrInt(spec.attrs, "offset");
    E.parallelFor(rows, [&](Value* r) {
      Value* limit = b.CreateAdd(b.CreateURem(r, E.ci(tq)), E.ci(offset)); // i + offset
      Value* base = b.CreateMul(r, E.ci(tk));
      E.loop(tk, [&](Value* j) {
        Value* idx = b.CreateAdd(base, j);
        Value* x = E.loadF(E.operand(0), idx);
        E.storeF(E.result(), idx,
                 b.CreateSelect(b.CreateICmpSGT(j, limit),
                                E.cf(-std::numeric_limits<double>::infinity()), x));
      });
    });
    return "";
  });
}

std::string lower_MaskFill(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                           LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    float value = float(attrFloat(spec.attrs, "value"));
    bool keepInt = spec.operands[1].dtype == DType::i32;
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0), broadcastOperand(spec, 1)},
            [&](const Vals& v, Value*) {
              Value* kept =
                  keepInt ? b.CreateICmpNE(v[1], E.ci32(0)) : b.CreateFCmpUNE(v[1], E.cf(0.0));
              return b.CreateSelect(kept, v[0], E.cf(value));
            });
    return "";
  });
}

std::string lower_PadMask(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                          LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    auto& b = E.b();
    int64_t pad = attrInt(spec.attrs, "pad");
    emitMap(E, spec.result.shape, {contiguousOperand(spec, 0)}, [&](const Vals& v, Value*) {
      return b.CreateSelect(b.CreateICmpNE(b.CreateSExt(v[0], E.i64()), E.ci(pad)), E.cf(1.0),
                            E.cf(0.0));
    });
    return "";
  });
}

std::string lower_Fill(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                       LoweredKernel* out) {
  return emitStandard(mb, spec, name, out, [&](KernelEmitter& E) {
    float value = float(attrFloat(spec.attrs, "value"));
    emitMap(E, spec.result.shape, {}, [&](const Vals&, Value*) { return E.cf(value); });
    return "";
  });
}

} // namespace gptc::codegen
