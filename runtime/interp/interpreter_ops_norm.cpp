// Interpreter kernels for the row-wise ops over the last axis: layernorm (and its gradients) and
// softmax (and its gradient). A tensor (...,C) is treated as rows of C; every row statistic (mean,
// variance, max, sum of exponentials) is computed in double and each output rounded once.
//
// Semantics pinned here: layernorm uses the biased variance (divide by C) with eps inside the
// square root, as torch.nn.LayerNorm; softmax subtracts the row max, and a row that is entirely
// -inf (a fully padded attention row) gives all zeros rather than NaN. It leaves masking to
// causal_mask/mask_fill.
#include "runtime/interp/interpreter_kernels.h"

#include <cmath>
#include <limits>

namespace gptc {
namespace {

/// Mean and 1/sqrt(biased variance + eps) of one row of C values.
struct RowStats {
  double mean, rstd;
};

RowStats rowStats(const float* x, int64_t C, double eps) {
  double sum = 0.0;
  for (int64_t c = 0; c < C; ++c)
    sum += x[c];
  double mean = sum / double(C);
  double sq = 0.0; // two passes: no cancellation from E[x^2] - E[x]^2
  for (int64_t c = 0; c < C; ++c)
    sq += (x[c] - mean) * (x[c] - mean);
  double var = sq / double(C);
  return {mean, 1.0 / std::sqrt(var + eps)};
}

} // namespace

std::string eval_LayerNorm(EvalArgs& e) {
  // x (R,C), w (C), b (C) -> (x - mean) * rstd * w + b (R,C)
  const Tensor &x = *e.in[0], &w = *e.in[1], &b = *e.in[2];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.f.data() + r * C;
    RowStats s = rowStats(xr, C, eps);
    for (int64_t c = 0; c < C; ++c)
      e.out.f[r * C + c] = float((xr[c] - s.mean) * s.rstd * w.f[c] + b.f[c]);
  }
  return "";
}

std::string eval_LayerNormGradX(EvalArgs& e) {
  // x (R,C), w (C), dy (R,C) -> dx (R,C). With xhat = (x-mean)*rstd and g = dy*w:
  //   dx = rstd * (g - mean(g) - xhat * mean(g * xhat))
  const Tensor &x = *e.in[0], &w = *e.in[1], &dy = *e.in[2];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.f.data() + r * C, *dyr = dy.f.data() + r * C;
    RowStats s = rowStats(xr, C, eps);
    double meanG = 0.0, meanGX = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      double g = double(dyr[c]) * w.f[c], xhat = (xr[c] - s.mean) * s.rstd;
      meanG += g;
      meanGX += g * xhat;
    }
    meanG /= double(C);
    meanGX /= double(C);
    for (int64_t c = 0; c < C; ++c) {
      double g = double(dyr[c]) * w.f[c], xhat = (xr[c] - s.mean) * s.rstd;
      e.out.f[r * C + c] = float(s.rstd * (g - meanG - xhat * meanGX));
    }
  }
  return "";
}

std::string eval_LayerNormGradW(EvalArgs& e) {
  // x (R,C), dy (R,C) -> dw (C) = sum over rows of dy * xhat
  const Tensor &x = *e.in[0], &dy = *e.in[1];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  double eps = attrFloat(e.attrs, "eps");
  std::vector<double> acc(size_t(C), 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x.f.data() + r * C, *dyr = dy.f.data() + r * C;
    RowStats s = rowStats(xr, C, eps);
    for (int64_t c = 0; c < C; ++c)
      acc[c] += double(dyr[c]) * ((xr[c] - s.mean) * s.rstd);
  }
  for (int64_t c = 0; c < C; ++c)
    e.out.f[c] = float(acc[c]);
  return "";
}

std::string eval_Softmax(EvalArgs& e) {
  // x (R,C) -> exp(x - max) / sum(exp(x - max)) per row; an all -inf row -> zeros
  const Tensor& x = *e.in[0];
  int64_t C = x.type.shape.back(), rows = rowsOf(x.type);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x.f.data() + r * C;
    float* yr = e.out.f.data() + r * C;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < C; ++c)
      mx = std::fmax(mx, double(xr[c]));
    if (mx == -std::numeric_limits<double>::infinity()) {
      for (int64_t c = 0; c < C; ++c)
        yr[c] = 0.0f; // every key masked: attend to nothing
      continue;
    }
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c)
      sum += std::exp(double(xr[c]) - mx);
    for (int64_t c = 0; c < C; ++c)
      yr[c] = float(std::exp(double(xr[c]) - mx) / sum);
  }
  return "";
}

std::string eval_SoftmaxGrad(EvalArgs& e) {
  // y (R,C), dy (R,C) -> y * (dy - sum(dy * y)) per row
  const Tensor &y = *e.in[0], &dy = *e.in[1];
  int64_t C = y.type.shape.back(), rows = rowsOf(y.type);
  for (int64_t r = 0; r < rows; ++r) {
    const float *yr = y.f.data() + r * C, *dyr = dy.f.data() + r * C;
    double dotYdy = 0.0;
    for (int64_t c = 0; c < C; ++c)
      dotYdy += double(yr[c]) * dyr[c];
    for (int64_t c = 0; c < C; ++c)
      e.out.f[r * C + c] = float(yr[c] * (dyr[c] - dotYdy));
  }
  return "";
}

} // namespace gptc
