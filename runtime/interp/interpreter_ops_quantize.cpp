// Interpreter kernels for quantized weights (ir/ops.def's "quantized weights" rows): the oracle the
// JIT's in-register dequantization (codegen/lower_quantize.cpp) is checked against. A bf16 or i8
// tensor holds its exact values as floats (runtime/interp/interpreter.h), so dequantizing is a
// copy, or a product with the block's scale. Dot products accumulate in double per block, then add
// scale·partial into a double sum, rounded once.
// With xblock > 0 (i8 weights), x is quantized first, piece by piece (quantizePieces: the float
// operations the JIT does, in the same order, so both get the same integers and scales); each
// piece's Σ q_w·q_x is an exact integer, counted d_x times in the block's double partial.
#include "runtime/interp/interpreter_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

/// A row x of K quantized in pieces: each block of `block` cut into pieces of `piece` from its
/// start (the last one shorter). Per piece: amax = max|x| (NaN if any x is NaN), d = amax/127,
/// id = d != 0 ? 1/d : 0, q = clamp(round(x·id), ±127) (round half away from zero; NaN -> 0).
/// q gets K integers (as floats), d one scale per piece, in order.
void quantizePieces(const float* x, int64_t K, int64_t block, int64_t piece, float* q,
                    std::vector<float>& d) {
  d.clear();
  for (int64_t b0 = 0; b0 < K; b0 += block)
    for (int64_t p0 = b0; p0 < b0 + block; p0 += piece) {
      const int64_t p1 = std::min(p0 + piece, b0 + block);
      float amax = 0.0f;
      for (int64_t k = p0; k < p1; ++k) {
        float a = std::fabs(x[k]);
        if (!std::isnan(amax) && (std::isnan(a) || a > amax)) amax = a;
      }
      const float dp = amax / 127.0f, id = dp != 0.0f ? 1.0f / dp : 0.0f;
      for (int64_t k = p0; k < p1; ++k) {
        float v = std::round(x[k] * id);
        q[k] = std::isnan(v) ? 0.0f : std::clamp(v, -127.0f, 127.0f);
      }
      d.push_back(dp);
    }
}

/// qdot for x quantized by quantizePieces (q, d): per block, Σ over its pieces of d·(Σ q_w·q_x).
double qdotPieces(const float* q, const std::vector<float>& d, const float* w, const float* scale,
                  int64_t K, int64_t block, int64_t piece) {
  double acc = 0.0;
  size_t p = 0;
  for (int64_t b0 = 0; b0 < K; b0 += block) {
    double part = 0.0;
    for (int64_t p0 = b0; p0 < b0 + block; p0 += piece) {
      int64_t dot = 0; // exact: |q_w|, |q_x| <= 128
      for (int64_t k = p0; k < std::min(p0 + piece, b0 + block); ++k)
        dot += int64_t(q[k]) * int64_t(w[k]);
      part += double(d[p++]) * double(dot);
    }
    acc += double(scale[b0 / block]) * part;
  }
  return acc;
}

/// y[r, n] = qdot(x row r, w row n) (+ bias[n]) for x (...,K), w (N,K), scale (N, K/block) or none.
void qcontract(EvalArgs& e, const Tensor* bias, const Tensor* scale) {
  const Tensor &x = *e.in[0], &w = *e.in[1];
  const int64_t N = w.type.shape[0], K = w.type.shape[1], rows = rowsOf(x.type);
  const int64_t blocks = scale ? scale->type.shape.back() : 1, block = K / blocks;
  const int64_t piece = attrInt(e.attrs, "xblock"); // 0: x stays f32
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> q(piece ? size_t(K) : 0), d;
    if (piece) quantizePieces(x.f.data() + r * K, K, block, piece, q.data(), d);
    for (int64_t n = 0; n < N; ++n) {
      const float* s = scale ? scale->f.data() + n * blocks : nullptr;
      double v = piece ? qdotPieces(q.data(), d, w.f.data() + n * K, s, K, block, piece)
                       : qdot(x.f.data() + r * K, w.f.data() + n * K, s, K, block);
      e.out.f[r * N + n] = float(bias ? v + double(bias->f[n]) : v);
    }
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
