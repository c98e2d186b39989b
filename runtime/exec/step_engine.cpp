// runtime/exec/step_engine.cpp — the JIT and interpreter engines behind StepEngine (see
// step_engine.h).
#include "runtime/exec/step_engine.h"

#include "driver/driver.h"
#include "passes/plan_memory.h"
#include "runtime/exec/executable.h"

#include <cmath>
#include <cstring>
#include <fmt/format.h>
#include <limits>

namespace gptc {

float StepEngine::scalar(const std::string& name) const {
  Tensor t;
  if (!read(name, &t).empty() || t.type.dtype != DType::f32 || t.f.size() != 1)
    return std::numeric_limits<float>::quiet_NaN();
  return t.f[0];
}

std::string StepEngine::copyParamsTo(StepEngine& to) const {
  // JIT to JIT: straight from one persistent region into the other. Through read() and bind()
  // it was three passes over the weights (a zeroed Tensor, a copy, a copy) and 500 MiB of
  // allocations for GPT-2 124M, which `run --generate` paid before its first token after a
  // prompt of more than one token (the prefill step gets its own copy of the weights).
  const Executable* from = const_cast<StepEngine*>(this)->executable();
  Executable* dst = to.executable();
  for (const Value& v : to.graph().values) {
    if (v.kind != ValueKind::Param) continue;
    if (from && dst && v.type.dtype == DType::f32) {
      int id = graph().find(v.name);
      const float* src = from->output(v.name);
      float* out = dst->param(v.name);
      if (id >= 0 && src && out && graph().type(id) == v.type) {
        std::memcpy(out, src, size_t(v.type.bytes()));
        continue;
      }
    }
    Tensor t;
    if (std::string e = read(v.name, &t); !e.empty())
      return fmt::format("sharing param '{}': {}", v.name, e);
    if (std::string e = to.bind(v.name, t); !e.empty())
      return fmt::format("sharing param '{}': {}", v.name, e);
  }
  return "";
}

namespace {

class JitEngine final : public StepEngine {
public:
  JitEngine(std::unique_ptr<Executable> exe, int threads)
      : exe_(std::move(exe)), threads_(threads) {}
  std::string bind(const std::string& name, const Tensor& t) override {
    return exe_->bind(name, t);
  }
  std::string initParams(uint64_t seed) override { return exe_->initParams(seed); }
  std::string run() override { return exe_->run(threads_); }
  std::string read(const std::string& name, Tensor* out) const override {
    return exe_->read(name, out);
  }
  const Graph& graph() const override { return exe_->graph(); }
  Executable* executable() override { return exe_.get(); }
  std::string describe() const override {
    const CompileStats& s = exe_->compiled().stats();
    return fmt::format("JIT, {} kernels, arena {:.1f} MiB, params+state {:.1f} MiB, compiled in "
                       "{:.1f} s{}",
                       s.kernels, double(exe_->arenaBytes()) / (1 << 20),
                       double(exe_->persistentBytes()) / (1 << 20), s.emitSeconds + s.jitSeconds,
                       s.cacheHit ? " (object cache)" : "");
  }

private:
  std::unique_ptr<Executable> exe_;
  int threads_;
};

class InterpreterEngine final : public StepEngine {
public:
  // The interpreter keeps a reference to its graph, so the graph lives here, on the heap, and
  // never moves.
  explicit InterpreterEngine(Graph g) : g_(std::make_unique<Graph>(std::move(g))), interp_(*g_) {}
  std::string bind(const std::string& name, const Tensor& t) override {
    return interp_.bind(name, t);
  }
  std::string initParams(uint64_t seed) override {
    // State (AdamW moments) starts from its own init when the interpreter is built; only params
    // are seeded here.
    for (auto& [name, t] : gptc::initParams(*g_, seed))
      if (std::string e = interp_.bind(name, std::move(t)); !e.empty()) return e;
    return "";
  }
  std::string run() override { return interp_.run(); }
  std::string read(const std::string& name, Tensor* out) const override {
    if (g_->find(name) < 0) return fmt::format("no value named '{}'", name);
    *out = interp_.get(name);
    return "";
  }
  const Graph& graph() const override { return *g_; }
  std::string describe() const override { return "reference interpreter"; }

private:
  std::unique_ptr<Graph> g_;
  Interpreter interp_;
};

} // namespace

std::unique_ptr<StepEngine> makeEngine(Engine engine, Graph graph, int threads,
                                       const CompileOptions& options, std::string* err,
                                       const MemoryPlan* given) {
  if (engine == Engine::Interpreter) return std::make_unique<InterpreterEngine>(std::move(graph));
  MemoryPlan plan = given ? *given : planMemory(graph);
  if (std::string bad = checkPlan(graph, plan); !bad.empty()) {
    *err = "the memory plan failed its check: " + bad;
    return nullptr;
  }
  std::unique_ptr<Executable> exe = Executable::create(graph, plan, options, err);
  if (!exe) return nullptr;
  return std::make_unique<JitEngine>(std::move(exe), threads);
}

Expected<Graph> buildGraph(std::shared_ptr<ast::Program> program, const ConstOverrides& overrides,
                           const std::string& pipelineName,
                           const std::vector<std::string>& disabledPasses) {
  return compileGraph(std::move(program), overrides, pipelineName, disabledPasses);
}

} // namespace gptc
