// Finite-difference gradient checking for the autodiff tests: a case is a tiny graph in the IR's
// own text (params, inputs, one or a few ops, a value %r); the harness appends a loss
// `reduce_sum(mul(r, lossw))` with fixed random weights, differentiates it, runs it on the
// reference interpreter and compares every checked element of grad.<param> with a central
// difference.
//
// Tolerance (why it is what it is): the interpreter computes in f32, so the loss is f32 too. With
// step h = 1e-2 on inputs of size O(1), the central difference's truncation error is
// O(h^2 f''') ~ 1e-4 relative, and f32 rounding of a loss of size O(10) contributes about
// 10 * 6e-8 / (2h) ~ 3e-5 absolute. We require |fd - ad| <= 2e-3 * max(1, max |ad|) + 1e-2 * |ad|,
// two orders above both errors and far below what a wrong rule produces (a wrong sign, a missing
// broadcast reduction or a transposed matmul are O(1) relative errors). Inputs are drawn away from
// kinks (relu at 0, ties of max, division by ~0) so the function is smooth within +-h.
#pragma once
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "runtime/interp/interpreter.h"

#include <cmath>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <random>
#include <string>

namespace gptc::test {

/// How the harness draws a param's values.
enum class Domain { Normal, AwayFromZero, Distinct };

struct GradCase {
  std::string text;                                 ///< IR defining %r from params and inputs
  std::map<std::string, Domain> domains;            ///< per param; default Normal
  std::map<std::string, std::vector<int32_t>> ints; ///< i32 inputs' values (ids, targets, seeds)
  std::map<std::string, std::vector<float>> floats; ///< f32 inputs' values (masks)
};

inline Tensor randomTensor(const TensorType& t, Domain d, std::mt19937& rng) {
  Tensor out(t);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int64_t i = 0; i < out.numel(); ++i) {
    float x = u(rng);
    if (d == Domain::AwayFromZero) x = (x < 0 ? -1.0f : 1.0f) * (0.2f + 0.8f * std::fabs(x));
    out.f[i] = x;
  }
  if (d == Domain::Distinct) { // a shuffled ladder with steps of 0.1 > 2h: no ties within +-h
    std::vector<float> ladder(out.numel());
    for (size_t i = 0; i < ladder.size(); ++i)
      ladder[i] = 0.1f * float(i) - 0.05f * float(ladder.size());
    std::shuffle(ladder.begin(), ladder.end(), rng);
    out.f = ladder;
  }
  return out;
}

/// Parses `text` + the weighted loss, returns the forward graph (the loss is `output loss`).
inline Graph buildLossGraph(const std::string& text) {
  Expected<Graph> probe = parseGraph(text, "case.graph");
  REQUIRE_MESSAGE(bool(probe), (probe ? "" : probe.error().render()));
  int r = probe->find("r");
  REQUIRE_MESSAGE(r >= 0, "a case must define %r");
  const TensorType& rt = probe->type(r);
  std::string axes;
  for (int d = 0; d < rt.rank(); ++d)
    axes += (d ? ", " : "") + std::to_string(d);
  std::string dims;
  for (int d = 0; d < rt.rank(); ++d)
    dims += (d ? ", " : "") + std::to_string(rt.shape[d]);
  std::string full =
      text +
      fmt::format(
          "\ninput lossw : f32[{}]\noutput loss = reduce_sum(mul(r, lossw)) {{axes = [{}]}}\n",
          dims, axes);
  Expected<Graph> g = parseGraph(full, "case.graph");
  REQUIRE_MESSAGE(bool(g), (g ? "" : g.error().render()));
  return std::move(*g);
}

/// Runs the case; returns the largest |fd - ad| / (max(1, max|ad|)) seen, after CHECKing each
/// element.
inline double checkGradients(const GradCase& c, uint32_t seed = 1) {
  Graph forward = buildLossGraph(c.text);
  Graph backward = forward;
  Expected<AutodiffResult> ad = differentiate(backward);
  REQUIRE_MESSAGE(bool(ad), (ad ? "" : ad.error().render()));
  std::string problem = verifyGraph(backward);
  REQUIRE_MESSAGE(problem.empty(), problem);

  std::mt19937 rng(seed);
  std::map<std::string, Tensor> bindings;
  for (const Value& v : forward.values) {
    if (v.kind == ValueKind::Op) continue;
    if (v.kind == ValueKind::Param) {
      auto it = c.domains.find(v.name);
      bindings[v.name] =
          randomTensor(v.type, it == c.domains.end() ? Domain::Normal : it->second, rng);
    } else if (v.type.dtype == DType::i32) {
      auto it = c.ints.find(v.name);
      REQUIRE_MESSAGE(it != c.ints.end(), "no values for i32 input " << v.name);
      Tensor t(v.type);
      REQUIRE(int64_t(it->second.size()) == t.numel());
      t.i = it->second;
      bindings[v.name] = t;
    } else if (auto it = c.floats.find(v.name); it != c.floats.end()) {
      Tensor t(v.type);
      REQUIRE(int64_t(it->second.size()) == t.numel());
      t.f = it->second;
      bindings[v.name] = t;
    } else {
      bindings[v.name] = randomTensor(v.type, Domain::Normal, rng);
    }
  }

  Interpreter adRun(backward);
  for (auto& [name, t] : bindings)
    REQUIRE(adRun.bind(name, t).empty());
  std::string err = adRun.run();
  REQUIRE_MESSAGE(err.empty(), err);

  Interpreter fdRun(forward);
  for (auto& [name, t] : bindings)
    REQUIRE(fdRun.bind(name, t).empty());
  auto lossAt = [&]() {
    std::string e = fdRun.run();
    REQUIRE_MESSAGE(e.empty(), e);
    return double(fdRun.get("loss").f[0]);
  };

  const double h = 1e-2;
  double worst = 0;
  for (const AutodiffResult::ParamGrad& pg : ad->grads) {
    const std::string& name = backward.value(pg.param).name;
    const Tensor& grad = adRun.get(pg.grad);
    REQUIRE(grad.type == forward.type(forward.find(name)));
    double maxAbs = 0;
    for (float x : grad.f)
      maxAbs = std::max(maxAbs, double(std::fabs(x)));
    std::vector<int64_t> idx;
    int64_t n = grad.numel();
    if (n <= 64) {
      for (int64_t i = 0; i < n; ++i)
        idx.push_back(i);
    } else {
      std::uniform_int_distribution<int64_t> pick(0, n - 1);
      for (int i = 0; i < 48; ++i)
        idx.push_back(pick(rng));
    }
    Tensor& p = fdRun.mut(name);
    for (int64_t i : idx) {
      float saved = p.f[i];
      float hi = float(saved + h), lo = float(saved - h); // the steps f32 can represent
      p.f[i] = hi;
      double up = lossAt();
      p.f[i] = lo;
      double down = lossAt();
      p.f[i] = saved;
      double fd = (up - down) / (double(hi) - double(lo));
      double a = grad.f[i];
      double tol = 2e-3 * std::max(1.0, maxAbs) + 1e-2 * std::fabs(a);
      worst = std::max(worst, std::fabs(fd - a) / std::max(1.0, maxAbs));
      CHECK_MESSAGE(
          std::fabs(fd - a) <= tol,
          fmt::format("d loss / d {}[{}]: autodiff {} vs finite difference {}", name, i, a, fd));
    }
  }
  return worst;
}

} // namespace gptc::test
