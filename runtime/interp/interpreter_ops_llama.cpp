// Interpreter kernels for the ops of today's Transformer (models/llama.graph, issue #20): rmsnorm
// and its two gradients, silu and its gradient, swiglu, rope (rotary position embedding) and alibi.
//
// Precision policy, as the other interpreter kernels: row statistics (rmsnorm's mean square) and
// formulas with transcendentals (sigmoid) are computed in double and rounded once. rope and alibi
// follow what a PyTorch reference does: the angle table (cos, sin) or the bias is computed in
// double and rounded to f32, then combined with x in f32 (rope: a·cos - b·sin as two f32 products
// and an f32 sum, exactly `x * cos + rotate_half(x) * sin`).
#include "ir/einsum.h"
#include "runtime/interp/interpreter_kernels.h"

#include <cmath>

namespace gptc {
namespace {

/// 1/sqrt(mean(x^2) + eps) of one row of C values, in double.
double rmsRstd(const float* x, int64_t C, double eps) {
  double sq = 0.0;
  for (int64_t c = 0; c < C; ++c)
    sq += double(x[c]) * double(x[c]);
  return 1.0 / std::sqrt(sq / double(C) + eps);
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

} // namespace

std::string eval_RMSNorm(EvalArgs& e) {
  // x (R,C), w (C) -> x * rstd * w (R,C)
  const Tensor &x = *e.in[0], &w = *e.in[1];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.f.data() + r * C;
    double rstd = rmsRstd(xr, C, eps);
    for (int64_t c = 0; c < C; ++c)
      e.out.f[r * C + c] = float(xr[c] * rstd * w.f[c]);
  }
  return "";
}

std::string eval_RMSNormGradX(EvalArgs& e) {
  // x (R,C), w (C), dy (R,C) -> dx = rstd * (g - xhat * mean(g * xhat)), g = dy*w, xhat = x*rstd
  const Tensor &x = *e.in[0], &w = *e.in[1], &dy = *e.in[2];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.f.data() + r * C, *dyr = dy.f.data() + r * C;
    double rstd = rmsRstd(xr, C, eps), meanGX = 0.0;
    for (int64_t c = 0; c < C; ++c)
      meanGX += double(dyr[c]) * w.f[c] * (xr[c] * rstd);
    meanGX /= double(C);
    for (int64_t c = 0; c < C; ++c) {
      double g = double(dyr[c]) * w.f[c], xhat = xr[c] * rstd;
      e.out.f[r * C + c] = float(rstd * (g - xhat * meanGX));
    }
  }
  return "";
}

std::string eval_RMSNormGradW(EvalArgs& e) {
  // x (R,C), dy (R,C) -> dw (C) = sum over rows of dy * xhat
  const Tensor &x = *e.in[0], &dy = *e.in[1];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  std::vector<double> acc(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.f.data() + r * C, *dyr = dy.f.data() + r * C;
    double rstd = rmsRstd(xr, C, eps);
    for (int64_t c = 0; c < C; ++c)
      acc[c] += double(dyr[c]) * (xr[c] * rstd);
  }
  for (int64_t c = 0; c < C; ++c)
    e.out.f[c] = float(acc[c]);
  return "";
}

std::string eval_Silu(EvalArgs& e) {
  const Tensor& x = *e.in[0];
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = float(x.f[i] * sigmoid(x.f[i]));
  return "";
}

std::string eval_SiluGrad(EvalArgs& e) {
  // d/dx x·s(x) = s + x·s·(1-s) = s·(1 + x·(1-s))
  const Tensor &x = *e.in[0], &dy = *e.in[1];
  for (int64_t i = 0; i < e.out.numel(); ++i) {
    double s = sigmoid(x.f[i]);
    e.out.f[i] = float(double(dy.f[i]) * s * (1.0 + x.f[i] * (1.0 - s)));
  }
  return "";
}

std::string eval_SwiGLU(EvalArgs& e) {
  // silu(g) rounded to f32, times u in f32: F.silu(g) * u
  const Tensor &g = *e.in[0], &u = *e.in[1];
  for (int64_t i = 0; i < e.out.numel(); ++i)
    e.out.f[i] = float(g.f[i] * sigmoid(g.f[i])) * u.f[i];
  return "";
}

std::string eval_Rope(EvalArgs& e) {
  // x (..., T, D): row t at position pos + t; pair i rotated by (pos + t) * theta^(-2i/D)
  const Tensor& x = *e.in[0];
  int r = x.type.rank();
  int64_t T = x.type.shape[r - 2], D = x.type.shape[r - 1], half = D / 2;
  int64_t pos = e.in.size() > 1 ? e.in[1]->i[0] : 0;
  double theta = attrFloat(e.attrs, "theta");
  bool interleaved = attrInt(e.attrs, "interleaved") != 0;
  float sign = attrInt(e.attrs, "inverse") != 0 ? -1.0f : 1.0f;
  std::vector<float> cs(size_t(T * half)), sn(size_t(T * half));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      double angle = double(pos + t) * std::pow(theta, -double(2 * i) / double(D));
      cs[t * half + i] = float(std::cos(angle));
      sn[t * half + i] = sign * float(std::sin(angle));
    }
  int64_t rows = x.numel() / D;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t t = row % T, base = row * D;
    for (int64_t i = 0; i < half; ++i) {
      int64_t ia = base + (interleaved ? 2 * i : i),
              ib = base + (interleaved ? 2 * i + 1 : i + half);
      float a = x.f[ia], b = x.f[ib], c = cs[t * half + i], s = sn[t * half + i];
      e.out.f[ia] = a * c - b * s;
      e.out.f[ib] = b * c + a * s;
    }
  }
  return "";
}

std::string eval_Alibi(EvalArgs& e) {
  // x (..., H, Tq, Tk) + m_h * (j - i - offset), m_h = 2^(-8(h+1)/H) rounded to f32
  const Tensor& x = *e.in[0];
  int r = x.type.rank();
  int64_t H = x.type.shape[r - 3], tq = x.type.shape[r - 2], tk = x.type.shape[r - 1];
  int64_t offset = attrInt(e.attrs, "offset");
  for (int64_t idx = 0; idx < x.numel(); ++idx) {
    int64_t j = idx % tk, i = (idx / tk) % tq, h = (idx / (tk * tq)) % H;
    float slope = float(std::exp2(-8.0 * double(h + 1) / double(H)));
    e.out.f[idx] = x.f[idx] + slope * float(j - i - offset); // f32, as a torch bias table
  }
  return "";
}

std::string eval_Einsum(EvalArgs& e) {
  // Every output element: the sum over the summed axes of the operands' product, in double.
  std::vector<TensorType> types;
  for (const Tensor* t : e.in)
    types.push_back(t->type);
  Expected<EinsumSpec> s = parseEinsum(attrString(e.attrs, "spec"), types);
  if (!s) return s.error().message;
  Shape outS = s->outputShape(), sumS;
  for (const std::string& a : s->summed)
    sumS.push_back(s->sizes.at(a));
  int64_t K = numelOf(sumS);
  std::vector<std::vector<int64_t>> outStr, sumStr;
  for (size_t k = 0; k < e.in.size(); ++k) {
    outStr.push_back(s->stridesFor(int(k), s->output));
    sumStr.push_back(s->stridesFor(int(k), s->summed));
  }
  auto offset = [](int64_t flat, const Shape& shape, const std::vector<int64_t>& str) {
    int64_t off = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      off += (flat % shape[d]) * str[d];
      flat /= shape[d];
    }
    return off;
  };
  for (int64_t o = 0; o < e.out.numel(); ++o) {
    std::vector<int64_t> base;
    for (size_t k = 0; k < e.in.size(); ++k)
      base.push_back(offset(o, outS, outStr[k]));
    double acc = 0.0;
    for (int64_t j = 0; j < K; ++j) {
      double p = 1.0;
      for (size_t k = 0; k < e.in.size(); ++k)
        p *= e.in[k]->f[base[k] + offset(j, sumS, sumStr[k])];
      acc += p;
    }
    e.out.f[o] = float(acc);
  }
  return "";
}

} // namespace gptc
