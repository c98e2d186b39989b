// Interpreter kernels for the elementwise and broadcasting ops: arithmetic, activations and their
// gradients, dropout, masks and fill. Each output element is computed on its own from the matching
// operand elements (numpy broadcasting via BroadcastIndex).
//
// Precision policy (the JIT must match it): a single arithmetic op (add, sub, mul, div, scale,
// relu, mask) is done in f32, exactly as PyTorch does; a formula with transcendentals (gelu, its
// gradient) is evaluated in double and rounded once, so the oracle is as close to the exact value
// as a float can be. It leaves reductions, contractions and layout to the other
// interpreter_ops_*.cpp files.
#include "ir/rng.h"
#include "runtime/interp/interpreter_kernels.h"

#include <cmath>
#include <limits>

namespace gptc {
namespace {

/// out[i] = f(a[i'], b[i'']) with a and b numpy-broadcast to out's shape.
template <class F> std::string binary(EvalArgs& e, F f) {
  const Tensor &a = *e.in[0], &b = *e.in[1];
  BroadcastIndex ia(e.out.type.shape, a.type.shape), ib(e.out.type.shape, b.type.shape);
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = f(a.f[ia(i)], b.f[ib(i)]);
  return "";
}

/// out[i] = f(x[i]).
template <class F> std::string unary(EvalArgs& e, F f) {
  const Tensor& x = *e.in[0];
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = f(x.f[i]);
  return "";
}

constexpr double kSqrt2OverPi = 0.7978845608028654; // sqrt(2/pi)
constexpr double kGeluCubic = 0.044715;

double geluTanh(double x) {
  double u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  return 0.5 * x * (1.0 + std::tanh(u));
}

/// d/dx of 0.5x(1+tanh(u)), u = sqrt(2/pi)(x + 0.044715x^3):
///   0.5(1+tanh u) + 0.5x(1-tanh^2 u) * sqrt(2/pi)(1 + 3*0.044715x^2)
double geluTanhDerivative(double x) {
  double u = kSqrt2OverPi * (x + kGeluCubic * x * x * x);
  double t = std::tanh(u);
  double du = kSqrt2OverPi * (1.0 + 3.0 * kGeluCubic * x * x);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du;
}

} // namespace

std::string eval_Add(EvalArgs& e) {
  return binary(e, [](float a, float b) { return a + b; });
}
std::string eval_Sub(EvalArgs& e) {
  return binary(e, [](float a, float b) { return a - b; });
}
std::string eval_Mul(EvalArgs& e) {
  return binary(e, [](float a, float b) { return a * b; });
}
std::string eval_Div(EvalArgs& e) {
  return binary(e, [](float a, float b) { return a / b; });
}

std::string eval_Scale(EvalArgs& e) {
  // s is rounded to f32 first, as `x * s` with a Python float does in PyTorch.
  float s = float(attrFloat(e.attrs, "s"));
  return unary(e, [s](float x) { return x * s; });
}

std::string eval_Gelu(EvalArgs& e) {
  return unary(e, [](float x) { return float(geluTanh(x)); });
}

std::string eval_Relu(EvalArgs& e) {
  return unary(e, [](float x) { return x > 0.0f ? x : 0.0f; });
}

std::string eval_GeluGrad(EvalArgs& e) {
  const Tensor &x = *e.in[0], &dy = *e.in[1]; // both (...)
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = float(double(dy.f[i]) * geluTanhDerivative(x.f[i]));
  return "";
}

std::string eval_ReluGrad(EvalArgs& e) {
  const Tensor &x = *e.in[0], &dy = *e.in[1]; // both (...)
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = x.f[i] > 0.0f ? dy.f[i] : 0.0f;
  return "";
}

std::string eval_Dropout(EvalArgs& e) {
  // keep = dropoutUniform(seed, salt, flat index) >= p (ir/rng.h, shared with the JIT); kept values
  // are scaled by 1/(1-p) rounded to f32, so p = 0 is the identity.
  const Tensor &x = *e.in[0], &seed = *e.in[1]; // x (...), seed i32[]
  float p = float(attrFloat(e.attrs, "p"));
  float keepScale = float(1.0 / (1.0 - double(p)));
  uint32_t s = uint32_t(seed.i[0]);
  uint32_t salt = uint32_t(attrInt(e.attrs, "salt"));
  // row0 (optional): x's rows start at row0 of the global batch, so index as the whole batch does
  int64_t base = 0;
  if (e.in.size() > 2 && x.type.rank() > 0)
    base = int64_t(e.in[2]->i[0]) * (x.numel() / x.type.shape[0]);
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = dropoutKeep(s, salt, uint32_t(base + i), p) ? x.f[i] * keepScale : 0.0f;
  return "";
}

std::string eval_CausalMask(EvalArgs& e) {
  // x (...,Tq,Tk): query i may see key j only when j <= i + offset.
  const Tensor& x = *e.in[0];
  int r = x.type.rank();
  int64_t tq = x.type.shape[r - 2], tk = x.type.shape[r - 1];
  int64_t offset = attrInt(e.attrs, "offset");
  const float negInf = -std::numeric_limits<float>::infinity();
  for (int64_t idx = 0; idx < x.numel(); ++idx) {
    int64_t j = idx % tk, i = (idx / tk) % tq;
    e.out.f[idx] = j > i + offset ? negInf : x.f[idx];
  }
  return "";
}

std::string eval_MaskFill(EvalArgs& e) {
  // x (...) where keep != 0, else value; keep (f32 or i32) broadcasts to x.
  const Tensor &x = *e.in[0], &keep = *e.in[1];
  float value = float(attrFloat(e.attrs, "value"));
  BroadcastIndex ik(x.type.shape, keep.type.shape);
  bool keepIsF32 = keep.type.dtype == DType::f32;
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t k = ik(i);
    bool kept = keepIsF32 ? keep.f[k] != 0.0f : keep.i[k] != 0;
    e.out.f[i] = kept ? x.f[i] : value;
  }
  return "";
}

std::string eval_PadMask(EvalArgs& e) {
  const Tensor& ids = *e.in[0]; // i32 (...) -> f32 (...)
  int64_t pad = attrInt(e.attrs, "pad");
  for (int64_t i = 0; i < ids.numel(); ++i)
    e.out.f[i] = ids.i[i] != pad ? 1.0f : 0.0f;
  return "";
}

std::string eval_Fill(EvalArgs& e) {
  float value = float(attrFloat(e.attrs, "value"));
  for (float& v : e.out.f)
    v = value;
  return "";
}

} // namespace gptc
