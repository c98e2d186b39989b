// tools/trace_flags.cpp — see trace_flags.h.
#include "tools/trace_flags.h"

#include "passes/plan_memory.h"
#include "tools/commands.h"

#include <CLI/CLI.hpp>

namespace gptc::tools {

void addTraceFlags(CLI::App& app, TraceFlags& f) {
  app.add_flag("--trace", f.trace,
               "write OUT/trace/step_N.txt: one training step explained (tokens, embeddings, one "
               "head's Q/K/V, scores, mask, softmax, loss, top-5 predictions, gradients, update "
               "sizes) and OUT/trace/*.svg attention heatmaps")
      ->group("Study");
  app.add_option("--trace-steps", f.steps, "0-based steps to trace, e.g. 0,100 (default 0)")
      ->delimiter(',')
      ->type_name("N[,N]")
      ->group("Study");
  app.add_option("--trace-layer", f.layer, "the layer whose attention is traced (default 0)")
      ->type_name("L")
      ->group("Study");
  app.add_option("--trace-head", f.head, "the head of that layer (default 0)")
      ->type_name("H")
      ->group("Study");
  app.add_flag("--report", f.report,
               "after training, write OUT/report.html (gptc report OUT: passes, memory plan, "
               "kernels, loss curve, attention)")
      ->group("Study");
  app.add_flag("--check-finite", f.checkFinite,
               "after every kernel, look for NaN/Inf; stop at the first with the op, its line in "
               "the .graph file and its inputs' statistics (JIT; slower)")
      ->group("Study");
}

TraceSessionOptions traceSessionOptions(const TraceFlags& f, const std::string& outDir) {
  TraceSessionOptions o;
  o.trace.layer = f.layer;
  o.trace.head = f.head;
  o.trace.tokenSeparator = f.tokenSeparator;
  o.steps = f.steps;
  o.outDir = outDir;
  return o;
}

int writeRunReport(const std::string& outDir) {
  // The report reads the run's model and constants from outDir/run.card.
  std::vector<std::string> args = {"gptc report", outDir, "--profile-steps", "1"};
  std::vector<char*> argv;
  for (std::string& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  return cmdReport(int(args.size()), argv.data());
}

std::string StudyHooks::prepare(const TraceFlags& f, const Graph& trainGraph,
                                const std::string& outDir, TokenText text, bool jit) {
  if (!f.trace && !f.checkFinite) return "";
  if (f.checkFinite && !jit)
    return "--check-finite checks the JIT's kernels; drop --interpret (the interpreter names the "
           "op of any failure itself)";
  PlanOptions po;
  if (f.trace) {
    std::string err;
    tracing_ =
        TraceSession::create(trainGraph, traceSessionOptions(f, outDir), std::move(text), &err);
    if (!tracing_) return err;
    po.observe = tracing_->observedValues(); // kept readable after the step
  }
  checkFinite_ = f.checkFinite;
  // The checker reports the inputs of the op that went wrong: no in-place op may overwrite them.
  if (checkFinite_) po.inPlace = false;
  if (jit) plan_ = planMemory(trainGraph, po);
  return "";
}

CompileOptions StudyHooks::compileOptions() const {
  CompileOptions o;
  o.kernelHooks = checkFinite_;
  return o;
}

std::string StudyHooks::attach(StepEngine& engine) {
  if (!checkFinite_) return "";
  Executable* exe = engine.executable();
  if (!exe) return "--check-finite needs the JIT";
  finite_ = std::make_unique<FiniteChecker>(*exe);
  if (!finite_->ok()) return "--check-finite: the step was compiled without kernel hooks";
  return "";
}

std::string StudyHooks::before(const StepEngine& engine, int64_t step) {
  return tracing_ ? tracing_->before(engine, step) : "";
}

std::string StudyHooks::after(const StepEngine& engine, int64_t step, std::string* note) {
  note->clear();
  if (finite_ && finite_->tripped()) return "stopped by --check-finite:\n" + finite_->report();
  if (tracing_) *note = tracing_->after(engine, step);
  return "";
}

} // namespace gptc::tools
