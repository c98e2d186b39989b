// tests/jit/test_claim_order.cpp — results do not depend on which thread ran which chunk: a tiny
// GPT-2 training step (forward, backward, global-norm clipping, AdamW), two steps, gives
// bit-identical loss, gradient norm, parameters and moments whether the chunks are claimed in
// order or in reverse (Executable::setReversedClaimsForTesting) and on 1, 2 or 3 threads. On a
// busy machine, a descheduled thread only changes who claims which chunk, so this is the test
// for "the same bits with and without a side load" that does not rely on timing.
#include "jit_test_util.h"

#include "ir/parser.h"
#include "passes/autodiff.h"
#include "passes/optimizer.h"
#include "passes/plan_memory.h"

namespace gptc {
namespace {

Graph tinyGpt2Step() {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/gpt2.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  ConstOverrides sets{{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", "2"},
                      {"NH", "2"}, {"C", "64"},   {"B", "2"},     {"T", "16"}};
  Expected<Graph> g = parseGraph(*text, path, sets);
  REQUIRE(bool(g));
  Expected<AutodiffResult> ad = differentiate(*g);
  REQUIRE(bool(ad));
  Expected<OptimizerResult> opt = appendAdamW(*g);
  REQUIRE(bool(opt));
  return std::move(*g);
}

/// Two steps from the same start; every output and persistent value afterwards.
std::map<std::string, Tensor> twoSteps(Executable& exe, int threads, bool reversed) {
  REQUIRE(exe.initParams(7).empty()); // params and optimizer state back to the start
  std::mt19937 gen(5);
  const Graph& g = exe.graph();
  exe.setReversedClaimsForTesting(reversed);
  std::map<std::string, Tensor> out;
  for (int step = 1; step <= 2; ++step) {
    for (const Value& v : g.values) {
      if (v.kind != ValueKind::Input) continue;
      Tensor t = v.type.dtype == DType::i32 ? jittest::randomI32(v.type.shape, gen, 0, 64)
                                            : Tensor(v.type);
      if (v.type.dtype == DType::f32) // lr, step and the like: small positive scalars
        for (float& x : t.f)
          x = v.name == "lr" ? 1e-3f : float(step);
      REQUIRE(exe.bind(v.name, t).empty());
    }
    out = jittest::execute(exe, threads);
  }
  for (const std::string& name : exe.persistentNames()) {
    Tensor t;
    REQUIRE(exe.read(name, &t).empty());
    out[name] = std::move(t);
  }
  return out;
}

TEST_CASE("claim order: a training step is bit-identical for any claim order and thread count") {
  Graph g = tinyGpt2Step();
  MemoryPlan plan = planMemory(g);
  REQUIRE(checkPlan(g, plan).empty());
  std::string err;
  std::unique_ptr<Executable> exe = Executable::create(g, plan, {}, &err);
  REQUIRE_MESSAGE(exe, err);
  auto reference = twoSteps(*exe, 2, false);
  REQUIRE(reference.count("loss"));
  CHECK(std::isfinite(reference["loss"].f[0]));
  for (auto [threads, reversed] : {std::pair{2, true}, {1, false}, {3, true}, {3, false}}) {
    CAPTURE(threads);
    CAPTURE(reversed);
    auto out = twoSteps(*exe, threads, reversed);
    int differ = 0;
    for (const auto& [name, t] : reference) {
      CAPTURE(name);
      bool same = jittest::sameBits(out[name], t);
      CHECK(same);
      differ += !same;
    }
    CHECK(differ == 0);
  }
}

} // namespace
} // namespace gptc
