// tests/jit/test_vector_math.cpp — the polynomial exp/tanh/log of codegen/vector_math.h against
// std:: in double on a dense sweep (every 97th float bit pattern in each range, plus the special
// values), through the compiled, vectorized loops the kernels use. The measured figures are the
// ones quoted in vector_math.h and docs/codegen.md.
#include "codegen/vector_math_kernels.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace gptc {
namespace {

/// Floats from lo to hi (same sign) stepping through their bit patterns: dense in every binade.
std::vector<float> sweep(float lo, float hi, uint32_t step) {
  std::vector<float> xs;
  for (float x = lo; x <= hi;) {
    xs.push_back(x);
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    bits = x >= 0 ? bits + step : bits - step;
    std::memcpy(&x, &bits, 4);
    if (x < lo) break;
  }
  return xs;
}

std::vector<float> both(float maxAbs, float minAbs, uint32_t step) {
  std::vector<float> xs = sweep(minAbs, maxAbs, step);
  size_t n = xs.size();
  for (size_t k = 0; k < n; ++k)
    xs.push_back(-xs[k]);
  xs.push_back(0.0f);
  return xs;
}

struct Err {
  double rel = 0, ulp = 0;
  float at = 0;
};

/// Largest relative and ulp error of f over xs against ref (double), on finite normal results.
Err measure(codegen::ArrayFn f, double (*ref)(double), const std::vector<float>& xs) {
  std::vector<float> ys(xs.size());
  f(xs.data(), ys.data(), int64_t(xs.size()));
  Err e;
  for (size_t k = 0; k < xs.size(); ++k) {
    double r = ref(xs[k]);
    if (!std::isfinite(r) || std::fabs(r) < std::numeric_limits<float>::min()) continue;
    double d = std::fabs(double(ys[k]) - r);
    double ulp = std::ldexp(1.0, std::ilogb(float(r)) - 23);
    double rel = d / std::fabs(r);
    if (rel > e.rel) {
      e.rel = rel;
      e.at = xs[k];
    }
    e.ulp = std::max(e.ulp, d / ulp);
  }
  return e;
}

float apply(codegen::ArrayFn f, float x) {
  float y;
  f(&x, &y, 1);
  return y;
}

TEST_CASE("vector exp, tanh, log: accuracy and special values") {
  std::string err;
  auto vm = codegen::compileVectorMath(&err, /*captureIR=*/true);
  REQUIRE_MESSAGE(vm, err);
  // The loops must really be vector code (the reason for writing them branch-free).
  CHECK(vm->optimizedIR.find("x float>") != std::string::npos);

  Err ex = measure(
      vm->exp, [](double x) { return std::exp(x); }, both(88.7f, 1e-8f, 97));
  Err th = measure(
      vm->tanh, [](double x) { return std::tanh(x); }, both(12.0f, 1e-30f, 97));
  std::vector<float> pos =
      sweep(std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(), 9973);
  Err lg = measure(
      vm->log, [](double x) { return std::log(x); }, pos);
  MESSAGE(fmt::format("exp  max rel {:.3g} ({:.2f} ulp) at {}", ex.rel, ex.ulp, ex.at));
  MESSAGE(fmt::format("tanh max rel {:.3g} ({:.2f} ulp) at {}", th.rel, th.ulp, th.at));
  MESSAGE(fmt::format("log  max rel {:.3g} ({:.2f} ulp) at {}", lg.rel, lg.ulp, lg.at));
  CHECK(ex.ulp <= 3);
  CHECK(th.ulp <= 4);
  CHECK(lg.ulp <= 3);

  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  CHECK(apply(vm->exp, -inf) == 0.0f); // masked softmax relies on it
  CHECK(apply(vm->exp, -200.0f) == 0.0f);
  CHECK(apply(vm->exp, inf) == inf);
  CHECK(apply(vm->exp, 89.0f) == inf);
  CHECK(std::isfinite(apply(vm->exp, 88.7f)));
  CHECK(apply(vm->exp, 0.0f) == 1.0f);
  CHECK(std::isnan(apply(vm->exp, nan)));
  // Denormal results are still computed (2^n applied in two halves).
  CHECK(apply(vm->exp, -100.0f) == doctest::Approx(std::exp(-100.0)).epsilon(1e-2));
  CHECK(apply(vm->tanh, inf) == 1.0f);
  CHECK(apply(vm->tanh, -inf) == -1.0f);
  CHECK(apply(vm->tanh, 0.0f) == 0.0f);
  CHECK(std::isnan(apply(vm->tanh, nan)));
  CHECK(apply(vm->log, 0.0f) == -inf);
  CHECK(apply(vm->log, inf) == inf);
  CHECK(std::isnan(apply(vm->log, -1.0f)));
  CHECK(std::isnan(apply(vm->log, nan)));
  CHECK(apply(vm->log, 1.0f) == 0.0f);
  CHECK(apply(vm->log, std::numeric_limits<float>::denorm_min()) ==
        doctest::Approx(std::log(double(std::numeric_limits<float>::denorm_min()))).epsilon(1e-6));
}

} // namespace
} // namespace gptc
