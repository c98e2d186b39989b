// tests/study/test_check_finite.cpp — --check-finite's checker on a tiny chargpt training step:
// silent while the numbers are finite; with a huge learning rate (1e30) the weights blow up and
// the checker stops at the first kernel whose result holds a NaN or Inf, naming the op, its line
// in models/chargpt.graph and its inputs' statistics.
#include "passes/plan_memory.h"
#include "runtime/exec/step_engine.h"
#include "runtime/trace/check_finite.h"

#include <doctest/doctest.h>

namespace gptc {
namespace {

Graph tinyTrain() {
  std::string path = "models/chargpt.graph"; // tests run in the source folder: relative locations
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  Expected<Graph> g = buildGraph(
      std::move(*program), {{"L", "1"}, {"C", "32"}, {"NH", "2"}, {"B", "2"}, {"T", "8"}}, "train");
  REQUIRE(bool(g));
  return std::move(*g);
}

std::unique_ptr<StepEngine> hookedEngine(const Graph& g) {
  PlanOptions po;
  po.inPlace = false; // the inputs of the failing op stay intact
  MemoryPlan plan = planMemory(g, po);
  CompileOptions o;
  o.kernelHooks = true;
  std::string err;
  std::unique_ptr<StepEngine> e = makeEngine(Engine::Jit, g, 2, o, &err, &plan);
  REQUIRE_MESSAGE(e, err);
  REQUIRE(e->initParams(5).empty());
  const TensorType& tt = g.type(g.find("tokens"));
  Tensor tokens(tt);
  for (int64_t i = 0; i < tt.numel(); ++i)
    tokens.i[i] = int32_t((i * 7) % 65);
  REQUIRE(e->bind("tokens", tokens).empty());
  REQUIRE(e->bind("targets", tokens).empty());
  REQUIRE(e->bind("seed", Tensor::scalarI32(1)).empty());
  return e;
}

TEST_CASE("check-finite: silent on a healthy step, stops at the first NaN/Inf with the op") {
  Graph g = tinyTrain();
  auto healthy = hookedEngine(g);
  FiniteChecker quiet(*healthy->executable());
  REQUIRE(quiet.ok());
  REQUIRE(healthy->bind("lr", Tensor::scalarF32(1e-3f)).empty());
  for (int s = 1; s <= 2; ++s) {
    REQUIRE(healthy->bind("step", Tensor::scalarI32(s)).empty());
    REQUIRE(healthy->run().empty());
  }
  CHECK(quiet.steps() == 2);
  CHECK(!quiet.tripped());

  auto engine = hookedEngine(g);
  FiniteChecker checker(*engine->executable());
  REQUIRE(engine->bind("lr", Tensor::scalarF32(1e30f)).empty()); // the injected fault
  for (int s = 1; s <= 4 && !checker.tripped(); ++s) {
    REQUIRE(engine->bind("step", Tensor::scalarI32(s)).empty());
    REQUIRE(engine->run().empty());
  }
  REQUIRE(checker.tripped());
  const std::string& r = checker.report();
  INFO(r);
  CHECK(r.find("non-finite value in step") != std::string::npos);
  CHECK(r.find(" = ") != std::string::npos);                        // the op, as in a dump
  CHECK(r.find("  at models/chargpt.graph:") != std::string::npos); // its source line
  CHECK(r.find("^\n") != std::string::npos);                        // with a caret under the column
  CHECK(r.find("inputs, as the kernel read them") != std::string::npos);
  CHECK(r.find(" mean ") != std::string::npos);
}

} // namespace
} // namespace gptc
