// Interpreter kernels for quantized weights (ir/ops.def's "quantized weights" rows): the oracle the
// JIT's in-register dequantization (codegen/lower_gemv.cpp) is checked against. A bf16 or i8
// tensor holds its exact values as floats (runtime/interp/interpreter.h), so dequantizing is a
// copy, or a product with the block's scale. Dot products accumulate in double per block, then add
// scale·partial into a double sum, rounded once.
#include "runtime/interp/interpreter_kernels.h"

namespace gptc {
namespace {

/// Σ_k x[k]·w[k] over a row of K, block by block, each block's sum times its scale (no scale: 1).
double qdot(const float* x, const float* w, const float* scale, int64_t K, int64_t block) {
  double acc = 0.0;
  for (int64_t b0 = 0; b0 < K; b0 += block) {
    double part = 0.0;
    for (int64_t k = b0; k < b0 + block; ++k)
      part += double(x[k]) * double(w[k]);
    acc += scale ? double(scale[b0 / block]) * part : part;
  }
  return acc;
}

/// y[r, n] = qdot(x row r, w row n) (+ bias[n]) for x (...,K), w (N,K), scale (N, K/block) or none.
void qcontract(EvalArgs& e, const Tensor* bias, const Tensor* scale) {
  const Tensor &x = *e.in[0], &w = *e.in[1];
  const int64_t N = w.type.shape[0], K = w.type.shape[1], rows = rowsOf(x.type);
  const int64_t blocks = scale ? scale->type.shape.back() : 1, block = K / blocks;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t n = 0; n < N; ++n) {
      const float* s = scale ? scale->f.data() + n * blocks : nullptr;
      double v = qdot(x.f.data() + r * K, w.f.data() + n * K, s, K, block);
      e.out.f[r * N + n] = float(bias ? v + double(bias->f[n]) : v);
    }
}

} // namespace

std::string eval_Dequantize(EvalArgs& e) {
  // w (...,K) [, scale (...,K/block)] -> f32 (...,K)
  const Tensor& w = *e.in[0];
  if (e.in.size() == 1) {
    e.out.f = w.f;
    return "";
  }
  const Tensor& s = *e.in[1];
  const int64_t K = w.type.shape.back(), blocks = s.type.shape.back(), block = K / blocks;
  for (int64_t i = 0; i < w.numel(); ++i)
    e.out.f[i] = w.f[i] * s.f[(i / K) * blocks + (i % K) / block];
  return "";
}

std::string eval_QMatMul(EvalArgs& e) {
  qcontract(e, nullptr, e.in.size() > 2 ? e.in[2] : nullptr);
  return "";
}

std::string eval_QLinear(EvalArgs& e) {
  qcontract(e, e.in[2], e.in.size() > 3 ? e.in[3] : nullptr);
  return "";
}

} // namespace gptc
