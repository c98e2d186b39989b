// tests/jit/test_hooks.cpp — the kernel hooks of codegen/compile.h: with
// CompileOptions::kernelHooks, step() calls the hook with -1 and then with every call index in
// order, once per step, and when hook(i) runs the value call i writes already holds the
// interpreter's value (so --check-finite and --profile see complete results); the outputs are
// bit-identical to a step compiled without hooks; without the flag nothing can be hooked.
// Also the profiler on top of them (runtime/exec/kernel_profiler.h).
#include "jit_test_util.h"

#include "ir/parser.h"
#include "passes/autodiff.h"
#include "passes/plan_memory.h"
#include "runtime/exec/kernel_profiler.h"

namespace gptc {
namespace {

Graph tinyGpt2Train() {
  std::string path = std::string(GPTC_SOURCE_DIR) + "/models/gpt2.graph";
  Expected<std::string> text = readTextFile(path);
  REQUIRE(bool(text));
  ConstOverrides sets{{"V", "64"}, {"Vp", "128"}, {"maxT", "16"}, {"L", "2"},
                      {"NH", "2"}, {"C", "32"},   {"B", "2"},     {"T", "8"}};
  Expected<Graph> g = parseGraph(*text, path, sets);
  REQUIRE(bool(g));
  Expected<AutodiffResult> ad = differentiate(*g);
  REQUIRE(bool(ad));
  for (const auto& pg : ad->grads)
    g->outputs.push_back(pg.grad);
  return std::move(*g);
}

std::map<std::string, Tensor> feeds(const Graph& g) {
  std::map<std::string, Tensor> f = initParams(g, 7);
  std::mt19937 gen(5);
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Input) f[v.name] = jittest::randomI32(v.type.shape, gen, 0, 64);
  return f;
}

struct Recorder {
  const Executable* exe = nullptr;
  std::vector<int> order;
  std::vector<Tensor> snapshots; // by call index: the bytes of the value the call wrote
  static void hook(void* ctx, int32_t i) {
    auto* r = static_cast<Recorder*>(ctx);
    r->order.push_back(i);
    if (i < 0) return;
    const KernelCall& c = r->exe->compiled().calls()[size_t(i)];
    Tensor t(r->exe->graph().type(c.value));
    void* dst = t.type.dtype == DType::f32 ? static_cast<void*>(t.f.data()) : t.i.data();
    std::memcpy(dst, r->exe->valueBytes(c.value), size_t(t.type.bytes()));
    r->snapshots[size_t(i)] = std::move(t);
  }
};

TEST_CASE("kernel hooks: every call in order, its result complete when the hook runs") {
  Graph g = tinyGpt2Train();
  std::map<std::string, Tensor> in = feeds(g);
  Interpreter interp(g);
  for (const auto& [name, t] : in)
    REQUIRE(interp.bind(name, t).empty());
  REQUIRE(interp.run().empty());

  MemoryPlan plan = planMemory(g);
  REQUIRE(checkPlan(g, plan).empty());
  auto plain = jittest::build(g, plan, in);
  CHECK_FALSE(plain->compiled().hasKernelHooks());
  CHECK_FALSE(plain->setKernelHook(&Recorder::hook, nullptr));
  CHECK(plain->compiled().calls().size() == size_t(plain->compiled().stats().calls));
  auto reference = jittest::execute(*plain, 2);

  CompileOptions o;
  o.kernelHooks = true;
  auto hooked = jittest::build(g, plan, in, o);
  REQUIRE(hooked->compiled().hasKernelHooks());
  const std::vector<KernelCall>& calls = hooked->compiled().calls();
  REQUIRE(calls.size() == plain->compiled().calls().size());
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Recorder rec;
    rec.exe = hooked.get();
    rec.snapshots.resize(calls.size());
    REQUIRE(hooked->setKernelHook(&Recorder::hook, &rec));
    auto out = jittest::execute(*hooked, threads);
    REQUIRE(rec.order.size() == calls.size() + 1);
    CHECK(rec.order[0] == -1);
    for (size_t i = 0; i < calls.size(); ++i)
      REQUIRE(rec.order[i + 1] == int(i));
    // Hooks change no result: bit-identical to the step without them.
    for (const auto& [name, t] : reference) {
      CAPTURE(name);
      CHECK(jittest::sameBits(out[name], t));
    }
    // When hook(i) ran, the value call i writes was complete: the interpreter's value.
    int checked = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].node < 0) continue;
      CAPTURE(i);
      CAPTURE(opName(calls[i].kind));
      jittest::Diff d = jittest::compare(rec.snapshots[i], interp.get(calls[i].value),
                                         jittest::Measure::NormWise);
      CHECK(d.nanMismatch.empty());
      CHECK(d.maxRel <= 1e-4);
      checked++;
    }
    CHECK(checked > 50);
  }
  // Clearing the hook: the step runs without calling back.
  REQUIRE(hooked->setKernelHook(nullptr, nullptr));
  CHECK(hooked->run(2).empty());
}

TEST_CASE("kernel profiler: a row per kind, every call counted once per step") {
  Graph g = tinyGpt2Train();
  MemoryPlan plan = planMemory(g);
  CompileOptions o;
  o.kernelHooks = true;
  auto exe = jittest::build(g, plan, feeds(g), o);
  KernelProfiler prof(*exe);
  REQUIRE(prof.ok());
  for (int s = 0; s < 3; ++s)
    REQUIRE(exe->run(2).empty());
  CHECK(prof.steps() == 3);
  int64_t calls = 0;
  bool sawMatmul = false;
  for (const KernelProfiler::Row& r : prof.byKind()) {
    calls += r.calls;
    CHECK(r.seconds >= 0);
    // The best step's time of each call is at most its mean: never more than seconds / steps.
    CHECK(r.best >= 0);
    CHECK(r.best <= r.seconds / 3 + 1e-12);
    sawMatmul |= (r.kind == "matmul" || r.kind == "linear") && r.flops > 0;
  }
  CHECK(calls == int64_t(exe->compiled().calls().size()));
  CHECK(sawMatmul);
  CHECK(prof.table().find("total") != std::string::npos);
  const std::vector<double> best = prof.bestPerCall();
  REQUIRE(best.size() == prof.perCall().size());
  for (size_t i = 0; i < best.size(); ++i)
    CHECK(best[i] * 3 <= prof.perCall()[i] + 1e-12);
  prof.reset();
  CHECK(prof.steps() == 0);
  CHECK(prof.bestPerCall()[0] == 0);

  auto plain = jittest::build(g, plan, feeds(g));
  KernelProfiler none(*plain);
  CHECK_FALSE(none.ok());
}

} // namespace
} // namespace gptc
