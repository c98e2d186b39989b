// Interpreter kernels of the optimizer ops (ir/ops.def, section "optimizer"): AdamW's two moment
// updates (of the gradient, or of the clipped gradient g*clip when given a clip operand), the
// parameter update, the global gradient norm and the clipping scale.
//
// They mirror torch.optim.AdamW (torch 1.13, single-tensor path) operation by operation, in f32
// with the scalar coefficients computed in double the way torch computes them in Python, so a
// parity test can ask for 1e-5 on the losses. The global norm accumulates in double (the
// interpreter's rule for reductions). What they leave to others: which params get decay and
// whether to clip (passes/optimizer.cpp), the JIT lowering (codegen/).
#include "runtime/interp/interpreter_kernels.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>

namespace gptc {

namespace {

/// The gradient the moments see: g, or g*clip rounded to f32 (torch's grad.mul_(clip_coef) in
/// clip_grad_norm_, which runs before optimizer.step()).
struct MomentGrad {
  const std::vector<float>& g;
  float clip;
  bool clipped;
  explicit MomentGrad(const EvalArgs& a)
      : g(a.in[1]->f), clip(a.in.size() > 2 ? a.in[2]->f[0] : 1.0f), clipped(a.in.size() > 2) {}
  float operator[](size_t i) const { return clipped ? g[i] * clip : g[i]; }
};

} // namespace

// m <- m*beta + g*(1-beta), as exp_avg.mul_(beta1).add_(grad, alpha=1-beta1) does it in f32.
std::string eval_AdamWMoment1(EvalArgs& a) {
  double beta = attrFloat(a.attrs, "beta");
  float keep = float(beta), take = float(1.0 - beta);
  const std::vector<float>& m = a.in[0]->f;
  MomentGrad g(a);
  for (size_t i = 0; i < m.size(); ++i)
    a.out.f[i] = m[i] * keep + take * g[i];
  return "";
}

// v <- v*beta + (1-beta)*g*g, as exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2).
std::string eval_AdamWMoment2(EvalArgs& a) {
  double beta = attrFloat(a.attrs, "beta");
  float keep = float(beta), take = float(1.0 - beta);
  const std::vector<float>& v = a.in[0]->f;
  MomentGrad g(a);
  for (size_t i = 0; i < v.size(); ++i) {
    float gi = g[i];
    a.out.f[i] = v[i] * keep + take * (gi * gi);
  }
  return "";
}

// p <- p*(1 - lr*wd); p <- p - step_size * m / (sqrt(v)/sqrt(bc2) + eps), step_size = lr/bc1,
// bc_k = 1 - beta_k^step: torch's decoupled weight decay followed by addcdiv_.
std::string eval_AdamWUpdate(EvalArgs& a) {
  const std::vector<float>&p = a.in[0]->f, &m = a.in[1]->f, &v = a.in[2]->f;
  double lr = a.in[3]->f[0];
  int32_t step = a.in[4]->i[0];
  if (step < 1) return fmt::format("step must count updates from 1, got {}", step);
  double beta1 = attrFloat(a.attrs, "beta1"), beta2 = attrFloat(a.attrs, "beta2");
  double eps = attrFloat(a.attrs, "eps"), wd = attrFloat(a.attrs, "wd");
  float decay = float(1.0 - lr * wd);
  double bc1 = 1.0 - std::pow(beta1, step), bc2 = 1.0 - std::pow(beta2, step);
  float negStepSize = float(-(lr / bc1));
  float bc2Sqrt = float(std::sqrt(bc2));
  float epsF = float(eps);
  for (size_t i = 0; i < p.size(); ++i) {
    float decayed = p[i] * decay;
    float denom = std::sqrt(v[i]) / bc2Sqrt + epsF;
    a.out.f[i] = decayed + negStepSize * (m[i] / denom);
  }
  return "";
}

std::string eval_GlobalNorm(EvalArgs& a) {
  double sum = 0;
  for (const Tensor* t : a.in)
    for (float x : t->f)
      sum += double(x) * double(x);
  a.out.f[0] = float(std::sqrt(sum));
  return "";
}

// clip_coef = max_norm / (norm + 1e-6), clamped to at most 1 (f32 tensor arithmetic in torch).
std::string eval_ClipScale(EvalArgs& a) {
  float norm = a.in[0]->f[0];
  float coef = float(attrFloat(a.attrs, "max_norm")) / (norm + 1e-6f);
  a.out.f[0] = std::min(coef, 1.0f);
  return "";
}

} // namespace gptc
