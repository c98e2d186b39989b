// The optimizer's settings reach the compiled step: with the settings of
// `--weight-decay 0 --beta2 0.999 --grad-clip 0 --lr-schedule constant` (handed to the optimizer
// pass as pass options through the driver, as the trainer and the fixed-batch mode do), ten AdamW
// steps of the tiny GPT-2 give the losses of torch.optim.AdamW at the same settings
// (tests/fixtures/reference/gpt2_adamw_torch.*, float64, written by make_fixtures.py) to 1e-5, on
// the interpreter and on the JIT. The default settings would miss: the test checks that too.
#include "driver/driver.h"
#include "passes/optimizer.h"
#include "runtime/exec/step_engine.h"
#include "runtime/train/lr_schedule.h"
#include "tests/reference/fixture.h"

#include <cmath>
#include <doctest/doctest.h>

using namespace gptc;

namespace {

Tensor fixtureTensor(const FixtureTensor& f) {
  Tensor t(TensorType{f.dtype == FixtureTensor::kF32 ? DType::f32 : DType::i32, f.shape});
  if (f.dtype == FixtureTensor::kF32)
    t.f = f.f;
  else
    t.i = f.i;
  return t;
}

/// The ten losses of the fixture's AdamW run on `engine` with `options`; the largest relative
/// difference from the reference in *worst.
std::vector<float> tenSteps(Engine engine, const Fixture& fx, const OptimizerOptions& options) {
  CompileRequest request;
  request.model = ModelSource::file(fx.model);
  request.overrides = ConstOverrides(fx.set.begin(), fx.set.end());
  request.pipeline = "train";
  request.passOptions = optimizerPassOptions(options);
  Expected<CompiledProgram> compiled = compile(std::move(request));
  REQUIRE_MESSAGE(compiled, (compiled ? "" : compiled.error().render()));
  std::string err;
  std::unique_ptr<StepEngine> e =
      makeEngine(engine, std::move(compiled->graph), 1, {}, &err, compiled->plan.get());
  REQUIRE_MESSAGE(e, err);
  for (const auto& [name, t] : fx.tensors)
    for (const char* prefix : {"param.", "input."})
      if (name.rfind(prefix, 0) == 0) {
        std::string bad = e->bind(name.substr(std::string(prefix).size()), fixtureTensor(t));
        REQUIRE_MESSAGE(bad.empty(), bad);
      }
  LrSchedule constant;
  constant.kind = LrSchedule::Kind::Constant;
  constant.maxLr = 1e-3;
  constant.totalSteps = 10;
  std::vector<float> losses;
  for (int step = 1; step <= 10; ++step) {
    REQUIRE(e->bind("lr", Tensor::scalarF32(float(constant.lrAt(step - 1)))).empty());
    REQUIRE(e->bind("step", Tensor::scalarI32(step)).empty());
    std::string bad = e->run();
    REQUIRE_MESSAGE(bad.empty(), bad);
    losses.push_back(e->scalar("loss"));
  }
  return losses;
}

double worstRelative(const std::vector<float>& got, const std::vector<float>& ref) {
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - ref[i]) / std::fabs(double(ref[i])));
  return worst;
}

} // namespace

TEST_CASE("optimizer flags: 10 AdamW losses match torch.optim.AdamW (wd 0, beta2 0.999, no clip)") {
  std::string error;
  std::optional<Fixture> fx = loadFixture("tests/fixtures/reference/gpt2_adamw_torch", &error);
  REQUIRE_MESSAGE(fx, error);
  const std::vector<float>& ref = fx->find("adamw.losses")->f;
  REQUIRE(ref.size() == 10);
  OptimizerOptions torchSettings;
  torchSettings.weightDecay = 0;
  torchSettings.beta1 = 0.9;
  torchSettings.beta2 = 0.999;
  torchSettings.eps = 1e-8;
  torchSettings.clip = 0;
  for (Engine engine : {Engine::Interpreter, Engine::Jit}) {
    double worst = worstRelative(tenSteps(engine, *fx, torchSettings), ref);
    MESSAGE(std::string(engine == Engine::Jit ? "JIT" : "interpreter")
            << ": 10 AdamW losses within " << worst << " (relative) of torch.optim.AdamW");
    CHECK(worst <= 1e-5);
  }
  // The defaults (beta2 0.95, wd 0.1, clip 1) are a different optimizer: the options did matter.
  double defaults = worstRelative(tenSteps(Engine::Interpreter, *fx, OptimizerOptions{}), ref);
  CHECK(defaults > 1e-4);
}

TEST_CASE("optimizer pass options: malformed or out-of-range values are one-line errors") {
  CHECK(bool(optimizerOptionsFrom({})));
  Expected<OptimizerOptions> o = optimizerOptionsFrom(optimizerPassOptions(
      OptimizerOptions{.beta1 = 0.8, .beta2 = 0.999, .eps = 1e-6, .weightDecay = 0.01, .clip = 0}));
  REQUIRE(o);
  CHECK(o->beta1 == 0.8);
  CHECK(o->beta2 == 0.999);
  CHECK(o->eps == 1e-6);
  CHECK(o->weightDecay == 0.01);
  CHECK(o->clip == 0);
  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"optimizer.beta2", "1"},
                                                        {"optimizer.beta1", "-0.1"},
                                                        {"optimizer.eps", "0"},
                                                        {"optimizer.grad-clip", "x"},
                                                        {"optimizer.weight-decay", "nan"}}) {
    Expected<OptimizerOptions> bad = optimizerOptionsFrom({{key, value}});
    CHECK_FALSE(bad);
    if (!bad) CHECK(bad.error().render().find(key) != std::string::npos);
  }
}
