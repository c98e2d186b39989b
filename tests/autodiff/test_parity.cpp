// Parity with PyTorch on the tiny fixtures of all three models (tests/fixtures/reference/, written
// by tests/reference/make_fixtures.py in float64): the autodiff gradients of every parameter, and
// ten AdamW steps (losses, gradient norms, final parameters) of the training-step graph built by
// differentiate + appendAdamW and run on the reference interpreter.
//
// Tolerances: gradients 1e-4 relative to the tensor's largest reference entry; losses 1e-5
// relative. The interpreter is f32 (reductions in double), the reference float64, so the
// differences measure f32 rounding through the network: ~1e-6 on gradients, ~1e-7 on losses.
#include "../reference/fixture.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "runtime/interp/interpreter.h"

#include <cmath>
#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace gptc;

namespace {

Tensor toTensor(const FixtureTensor& f) {
  Tensor t(TensorType{f.dtype == FixtureTensor::kF32 ? DType::f32 : DType::i32, f.shape});
  if (f.dtype == FixtureTensor::kF32)
    t.f = f.f;
  else
    t.i = f.i;
  return t;
}

/// max |a - b| / max(max |ref|, 1e-30)
double relDiff(const std::vector<float>& a, const std::vector<float>& ref) {
  double diff = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - ref[i])));
    scale = std::max(scale, double(std::fabs(ref[i])));
  }
  return diff / scale;
}

void parity(const std::string& key) {
  std::string error;
  std::optional<Fixture> fx =
      loadFixture(std::string(GPTC_SOURCE_DIR) + "/tests/fixtures/reference/" + key, &error);
  REQUIRE_MESSAGE(fx, error);
  Expected<std::string> text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/" + fx->model);
  REQUIRE(text);
  Expected<Graph> parsed =
      parseGraph(*text, fx->model, ConstOverrides(fx->set.begin(), fx->set.end()));
  REQUIRE_MESSAGE(parsed, (parsed ? "" : parsed.error().render()));
  Graph g = std::move(*parsed);
  Expected<AutodiffResult> ad = differentiate(g);
  REQUIRE_MESSAGE(ad, (ad ? "" : ad.error().render()));
  OptimizerOptions
      opt; // the fixture's settings are our defaults: betas (0.9, 0.95), wd 0.1, clip 1
  opt.keepGradients = true;
  Expected<OptimizerResult> adamw = appendAdamW(g, opt);
  REQUIRE_MESSAGE(adamw, (adamw ? "" : adamw.error().render()));
  std::string bad = verifyGraph(g);
  REQUIRE_MESSAGE(bad.empty(), bad);

  Interpreter in(g);
  for (const auto& [name, t] : fx->tensors) {
    if (name.rfind("param.", 0) == 0) REQUIRE(in.bind(name.substr(6), toTensor(t)).empty());
    if (name.rfind("input.", 0) == 0) REQUIRE(in.bind(name.substr(6), toTensor(t)).empty());
  }
  REQUIRE(in.bind("lr", Tensor::scalarF32(1e-3f)).empty());

  const std::vector<float>& refLosses = fx->find("adamw.losses")->f;
  const std::vector<float>& refNorms = fx->find("adamw.norms")->f;
  double worstGrad = 0, worstLoss = 0, worstNorm = 0;
  std::string worstGradName;
  for (int step = 1; step <= 10; ++step) {
    REQUIRE(in.bind("step", Tensor::scalarI32(step)).empty());
    std::string err = in.run();
    REQUIRE_MESSAGE(err.empty(), err);
    if (step == 1) {
      for (const AutodiffResult::ParamGrad& pg : ad->grads) {
        const std::string& name = g.value(pg.param).name;
        const FixtureTensor* ref = fx->find("grad." + name);
        REQUIRE_MESSAGE(ref, "fixture has no grad." << name);
        double d = relDiff(in.get(pg.grad).f, ref->f);
        CHECK_MESSAGE(d <= 1e-4,
                      key << " grad." << name << " differs from PyTorch by " << d << " relative");
        if (d > worstGrad) worstGrad = d, worstGradName = name;
      }
      CHECK(ad->grads.size() + ad->unused.size() ==
            size_t(std::count_if(fx->tensors.begin(), fx->tensors.end(),
                                 [](auto& kv) { return kv.first.rfind("grad.", 0) == 0; })));
    }
    double loss = in.get("loss").f[0], norm = in.get("grad_norm").f[0];
    double dl = std::fabs(loss - refLosses[step - 1]) /
                std::max(1.0, std::fabs(double(refLosses[step - 1])));
    double dn = std::fabs(norm - refNorms[step - 1]) /
                std::max(1e-30, std::fabs(double(refNorms[step - 1])));
    CHECK_MESSAGE(dl <= 1e-5, key << " AdamW step " << step << ": loss " << loss << " vs "
                                  << refLosses[step - 1]);
    CHECK_MESSAGE(dn <= 1e-4, key << " AdamW step " << step << ": grad norm " << norm << " vs "
                                  << refNorms[step - 1]);
    worstLoss = std::max(worstLoss, dl);
    worstNorm = std::max(worstNorm, dn);
  }
  // Params after 10 steps. An entry whose gradient is zero in exact arithmetic (the key bias:
  // softmax is invariant to adding a constant to every score of a row) has a float64 gradient of
  // ~1e-17 and an f32 one of ~1e-9; Adam divides m by sqrt(v), so either moves by about lr per step
  // with the sign of its rounding noise. Those entries are held to that bound (2 lr per step);
  // every other entry to 1e-4 relative to the tensor's largest value.
  double worstParam = 0;
  int noiseEntries = 0;
  for (int p : adamw->params) {
    const std::string& name = g.value(p).name;
    const std::vector<float>& got = in.get(name).f;
    const std::vector<float>& ref = fx->find("adamw.param." + name)->f;
    const std::vector<float>& grad0 = fx->find("grad." + name)->f;
    double scale = 1e-30, gradScale = 1e-30;
    for (float x : ref)
      scale = std::max(scale, double(std::fabs(x)));
    for (float x : grad0)
      gradScale = std::max(gradScale, double(std::fabs(x)));
    double d = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      double diff = std::fabs(got[i] - ref[i]);
      if (std::fabs(grad0[i]) <= 1e-6 * gradScale) {
        ++noiseEntries;
        CHECK_MESSAGE(diff <= 2 * 1e-3 * 10,
                      key << " " << name << "[" << i << "] (zero gradient) moved too far");
        continue;
      }
      d = std::max(d, diff / scale);
    }
    worstParam = std::max(worstParam, d);
    CHECK_MESSAGE(d <= 1e-4, key << " param " << name << " after 10 AdamW steps differs by " << d);
  }
  MESSAGE(key << ": " << noiseEntries << " param entries have a zero gradient in exact arithmetic");
  MESSAGE(fmt::format(
      "{}: largest gradient difference {:.3g} (grad.{}), AdamW losses {:.3g}, grad norms {:.3g}, "
      "params after 10 steps {:.3g} (all relative)",
      key, worstGrad, worstGradName, worstLoss, worstNorm, worstParam));
}

} // namespace

TEST_CASE("parity with PyTorch: gpt2 gradients and 10 AdamW steps") {
  parity("gpt2");
}
TEST_CASE("parity with PyTorch: chargpt gradients and 10 AdamW steps") {
  parity("chargpt");
}
TEST_CASE("parity with PyTorch: seq2seq gradients and 10 AdamW steps") {
  parity("seq2seq");
}
TEST_CASE("parity with PyTorch: llama gradients and 10 AdamW steps") {
  parity("llama");
}
