// tools/trace_flags.h — the study flags of `gptc run --train`: --trace, --trace-steps,
// --trace-layer, --trace-head (runtime/trace/trace_session.h does the work) and --check-finite
// (runtime/trace/check_finite.h), and StudyHooks: the few calls the training loop makes for them.
//
// What it leaves to others: the training command (tools/cmd_train.cpp) calls these.
#pragma once
#include "runtime/trace/check_finite.h"
#include "runtime/trace/trace_session.h"

#include <memory>
#include <optional>

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gptc::tools {

struct TraceFlags {
  bool trace = false;
  std::vector<int64_t> steps = {0};
  int layer = 0, head = 0;
  bool checkFinite = false;
  bool report = false;        ///< --report: gptc report OUTDIR after training
  std::string tokenSeparator; ///< not a flag: " " when the run's tokens are words (TraceOptions)
};

void addTraceFlags(CLI::App& app, TraceFlags& flags);

/// The session options, files under `outDir`/trace/.
TraceSessionOptions traceSessionOptions(const TraceFlags& flags, const std::string& outDir);

/// --report: runs `gptc report OUTDIR` for the finished run (its model, constants and optimizer
/// settings from OUTDIR/run.card; one profiled step). The process exit code of the report (0 on
/// success).
int writeRunReport(const std::string& outDir);

/// What --trace and --check-finite add to a training run, in the order the loop calls them (the
/// hooks must be destroyed before the engine they are attached to: declare the engine first):
///   prepare(train graph)  -> plan() and compileOptions() for makeEngine
///   attach(engine)        -> installs the NaN/Inf checker
///   before(step) / after(step) around each training step; after() returns "" or the reason to
///   stop (a non-finite value: the checker's report).
class StudyHooks {
public:
  /// "" or a one-line usage error (a layer or head the model lacks, --check-finite without the
  /// JIT).
  std::string prepare(const TraceFlags& flags, const Graph& trainGraph, const std::string& outDir,
                      TokenText text, bool jit);
  const MemoryPlan* plan() const { return plan_ ? &*plan_ : nullptr; }
  CompileOptions compileOptions() const;
  std::string attach(StepEngine& engine);
  std::string before(const StepEngine& engine, int64_t step);
  /// `note` receives a line to print (the trace files written), or stays empty.
  std::string after(const StepEngine& engine, int64_t step, std::string* note);

private:
  std::unique_ptr<TraceSession> tracing_;
  std::unique_ptr<FiniteChecker> finite_;
  std::optional<MemoryPlan> plan_;
  bool checkFinite_ = false;
};

} // namespace gptc::tools
