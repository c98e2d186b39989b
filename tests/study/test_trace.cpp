// tests/study/test_trace.cpp — the study tracer on a tiny chargpt: the traced values come from
// the compiled step and equal the interpreter's; observing them changes no result of the step
// (loss, gradient norm, every updated parameter and moment, bit for bit); the log shows attention
// rows that sum to 1, exact zeros above the diagonal and a gradient line for every parameter.
#include "passes/plan_memory.h"
#include "runtime/exec/step_engine.h"
#include "runtime/trace/trace.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fmt/format.h>
#include <random>

namespace gptc {
namespace {

ConstOverrides tiny() {
  return {{"L", "2"}, {"C", "32"}, {"NH", "2"}, {"maxT", "16"}, {"B", "2"}, {"T", "12"}};
}

Graph build(const ConstOverrides& sets, const std::string& pipeline) {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/chargpt.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, path);
  REQUIRE(bool(program));
  // A trace observes attention's scores and masked scores, which fusion keeps in registers.
  Expected<Graph> g = buildGraph(std::move(*program), sets, pipeline, {"fuse"});
  REQUIRE_MESSAGE(bool(g), (g ? std::string() : g.error().render()));
  return std::move(*g);
}

std::unique_ptr<StepEngine> engine(Engine which, const Graph& g, const PlanOptions& po = {}) {
  std::string err;
  MemoryPlan plan = planMemory(g, po);
  std::unique_ptr<StepEngine> e = makeEngine(which, g, 2, {}, &err, &plan);
  REQUIRE_MESSAGE(e, err);
  return e;
}

/// Seeded params, one batch of tokens (targets = the next token), lr, step and dropout seed.
void feed(StepEngine& e) {
  REQUIRE(e.initParams(7).empty());
  const TensorType& tt = e.graph().type(e.graph().find("tokens"));
  Tensor tokens(tt), targets(tt);
  std::mt19937 gen(3);
  std::vector<int32_t> stream(size_t(tt.numel() + 1));
  for (auto& t : stream)
    t = int32_t(gen() % 65);
  for (int64_t i = 0; i < tt.numel(); ++i) {
    tokens.i[i] = stream[i];
    targets.i[i] = stream[i + 1];
  }
  REQUIRE(e.bind("tokens", tokens).empty());
  REQUIRE(e.bind("targets", targets).empty());
  REQUIRE(e.bind("lr", Tensor::scalarF32(1e-3f)).empty());
  REQUIRE(e.bind("step", Tensor::scalarI32(1)).empty());
  REQUIRE(e.bind("seed", Tensor::scalarI32(11)).empty());
}

Tensor get(const StepEngine& e, const std::string& name) {
  Tensor t;
  std::string err = e.read(name, &t);
  REQUIRE_MESSAGE(err.empty(), name << ": " << err);
  return t;
}

std::string letter(int32_t id) {
  return std::string(1, char('A' + id % 26));
}

TEST_CASE("trace points are found by the models' names; bad layer/head say what exists") {
  Graph g = build(tiny(), "train");
  Expected<TracePoints> p = findTracePoints(g, {.layer = 1, .head = 1});
  REQUIRE(bool(p));
  CHECK(p->q == "q.1");
  CHECK(p->scores == "att.1");
  CHECK(p->positionParam == "wpe");
  CHECK(p->grads.size() == 16); // every chargpt param
  Expected<TracePoints> badLayer = findTracePoints(g, {.layer = 2});
  REQUIRE(!badLayer);
  CHECK(badLayer.error().message.find("the model has 2 layers") != std::string::npos);
  Expected<TracePoints> badHead = findTracePoints(g, {.layer = 0, .head = 2});
  REQUIRE(!badHead);
  CHECK(badHead.error().message.find("2 heads") != std::string::npos);
}

TEST_CASE("observed values: persistent in the plan, and observing changes no result") {
  Graph g = build(tiny(), "train");
  Expected<TracePoints> p = findTracePoints(g, {.layer = 1, .head = 0});
  REQUIRE(bool(p));
  PlanOptions po;
  po.observe = observedValues(*p);
  MemoryPlan plan = planMemory(g, po);
  CHECK(checkPlan(g, plan).empty());
  for (const std::string& name : po.observe)
    CHECK_MESSAGE(plan.placement[g.find(name)].region == Region::Persistent, name);

  auto plain = engine(Engine::Jit, g);
  auto traced = engine(Engine::Jit, g, po);
  feed(*plain);
  feed(*traced);
  // Without observing, an intermediate cannot be read after the step (its bytes are reused).
  Tensor scratch;
  CHECK(!plain->read(p->probs, &scratch).empty());
  for (int step = 0; step < 2; ++step) {
    REQUIRE(plain->run().empty());
    REQUIRE(traced->run().empty());
    CHECK(plain->scalar("loss") == traced->scalar("loss")); // bit for bit
    CHECK(plain->scalar("grad_norm") == traced->scalar("grad_norm"));
    for (const Value& v : g.values) {
      if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
      Tensor a = get(*plain, v.name), b = get(*traced, v.name);
      CHECK_MESSAGE(a.f == b.f, v.name << " differs after step " << step);
    }
  }
}

TEST_CASE("traced values from the JIT equal the interpreter's; the log shows what it promises") {
  Graph g = build(tiny(), "train");
  TraceOptions to{.layer = 1, .head = 1};
  Expected<TracePoints> p = findTracePoints(g, to);
  REQUIRE(bool(p));
  PlanOptions po;
  po.observe = observedValues(*p);
  auto jit = engine(Engine::Jit, g, po);
  auto interp = engine(Engine::Interpreter, g);
  feed(*jit);
  feed(*interp);
  Tracer tj(*p), ti(*p);
  REQUIRE(tj.before(*jit).empty());
  REQUIRE(ti.before(*interp).empty());
  REQUIRE(jit->run().empty());
  REQUIRE(interp->run().empty());

  // Every observed value: JIT == interpreter up to float rounding (relative to the tensor's scale).
  for (const std::string& name : po.observe) {
    Tensor a = get(*jit, name), b = get(*interp, name);
    REQUIRE(a.f.size() == b.f.size());
    double scale = 0, diff = 0;
    for (size_t i = 0; i < a.f.size(); ++i) {
      if (std::isinf(b.f[i])) {
        CHECK(a.f[i] == b.f[i]); // the mask's -inf in the same places
        continue;
      }
      scale = std::max(scale, double(std::abs(b.f[i])));
      diff = std::max(diff, double(std::abs(a.f[i] - b.f[i])));
    }
    CHECK_MESSAGE(diff <= 1e-4 * std::max(scale, 1e-6),
                  name << ": max diff " << diff << " scale " << scale);
  }

  // The masked scores the log shows (the mask's rule on the JIT's scores) are the interpreter's.
  Tensor masked = maskedScores(get(*jit, p->scores), p->maskOffset),
         imasked = get(*interp, p->masked);
  REQUIRE(masked.f.size() == imasked.f.size());
  for (size_t i = 0; i < masked.f.size(); ++i) {
    CHECK(std::isinf(masked.f[i]) == std::isinf(imasked.f[i]));
    if (!std::isinf(imasked.f[i])) CHECK(std::abs(masked.f[i] - imasked.f[i]) <= 1e-5f);
  }

  // Softmax weights: exact zeros above the diagonal, rows summing to 1, in the JIT's own buffer.
  Tensor probs = get(*jit, p->probs); // (B,NH,T,T)
  const int64_t T = probs.type.shape[3];
  for (int64_t r = 0; r < probs.numel() / T; ++r) {
    int64_t i = r % T;
    double sum = 0;
    for (int64_t j = 0; j < T; ++j) {
      float w = probs.f[r * T + j];
      sum += w;
      if (j > i) CHECK(w == 0.0f);
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }

  std::string log = tj.report(*jit, 0, letter);
  INFO(log);
  for (const char* s :
       {"1. tokens", "2. embedding", "3. layer 1 head 1", "4. scores", "5. after the causal mask",
        "6. softmax weights", "7. loss", "8. gradients"})
    CHECK(log.find(s) != std::string::npos);
  CHECK(log.find("-inf") != std::string::npos);
  CHECK(log.find("| sum 1.000000") != std::string::npos);
  CHECK(log.find(fmt::format("above the diagonal: {} of {} weights are exactly 0", T * (T - 1) / 2,
                             T * (T - 1) / 2)) != std::string::npos);
  for (const auto& [param, grad] : p->grads)
    CHECK_MESSAGE(log.find("\n  " + param + " ") != std::string::npos, param);
  CHECK(log.find("cannot read") == std::string::npos);
  // The interpreter's log has the same sections; the loss agrees to float rounding.
  std::string ilog = ti.report(*interp, 0, letter);
  CHECK(ilog.find("8. gradients") != std::string::npos);
  CHECK(jit->scalar("loss") == doctest::Approx(interp->scalar("loss")).epsilon(1e-5));

  std::string svg = attentionHeatmapSvg(probs, 0, 1, {"A", "B"}, "t");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
}

} // namespace
} // namespace gptc
