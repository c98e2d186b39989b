// The pass manager: runs a pipeline (a list of registered passes) over one PassContext and calls
// instruments before and after every pass. Passes only transform; everything a user sees about a
// run -- printed IR, dump files, timings, verification, the "did it really change?" check -- is an
// instrument (passes/instruments.h), the way TVM's PassInstrument and LLVM's
// PassInstrumentationCallbacks work.
//
// What it leaves to others: which passes exist (passes/passes.def), their order
// (passes/pipeline.cpp) and the command-line flags (tools/options.cpp).
#pragma once
#include "ir/ast.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "passes/memory_plan.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gptc {

struct RematReport; // passes/remat.h

/// Everything a pass may read or change. One context lives through a whole pipeline.
struct PassContext {
  Graph graph;                                 ///< empty until `expand` builds it
  std::shared_ptr<const ast::Program> program; ///< the model as parsed, for expand and for carets
  ConstOverrides overrides;                    ///< --set / --batch / --seq, for expand
  bool training = false;                       ///< building a training step (train pipeline)
  std::vector<std::string> warnings;           ///< non-fatal diagnostics, one line each
  std::map<std::string, int64_t> counters;     ///< named counters ("simplify.scale-by-one")
  std::shared_ptr<MemoryPlan> plan;            ///< set by plan-memory; codegen consumes it
  bool noMemoryPlan = false;                   ///< --no-memory-plan: the naive plan, for bisecting
  bool explainMemory = false;                  ///< --explain-memory: keep refused in-place reasons
  int64_t memoryBudget = 0;       ///< --memory-budget in bytes (planned total); 0: none, no remat
  bool memoryBudgetSweep = false; ///< --memory-budget sweep: remat reports the trade-off curve
  std::shared_ptr<const RematReport> remat;   ///< what remat decided (when it ran with a budget)
  std::map<std::string, std::string> options; ///< pass options ("decode.context" = "256")
  bool explainFusion = false;                 ///< --explain-fusion: keep fuse's reasons
  std::vector<std::string> fusionNotes;       ///< "not fused: ..." lines (fuse, with explainFusion)

  /// A diagnostic at `loc` with the model's source line attached when `loc` is in the model file.
  Diag diagAt(const SourceLoc& loc, std::string message) const;
  /// Adds `n` to counter `name`.
  void count(const std::string& name, int64_t n = 1) { counters[name] += n; }
};

/// The graph as text; after plan-memory each value's line also says where it lives
/// ("arena +0x1c00 12.0 KiB live [12, 40]").
std::string printContext(const PassContext& ctx);

/// A pass returns whether it changed the graph, or an error (a located Diag when it can be).
using PassFn = Expected<bool> (*)(PassContext&);

/// One row of passes/passes.def.
struct PassInfo {
  std::string_view name; ///< as on the command line: "infer-shapes"
  PassFn run;
  std::vector<std::string> needs; ///< passes that must have run before this one (else a warning)
  std::string_view description;   ///< one line, for --help and docs
};

/// Every registered pass, in passes.def order.
const std::vector<PassInfo>& allPasses();
/// nullptr when no pass has that name.
const PassInfo* findPass(std::string_view name);
/// "expand, infer-shapes, ..." -- for "unknown pass" messages.
std::string passNameList();

/// What the manager knows about one pass run, handed to instruments after the pass.
struct PassRecord {
  const PassInfo* pass = nullptr;
  int index = 0;        ///< 1-based position among the passes that ran (dump file numbers)
  bool changed = false; ///< as the pass claims
  double milliseconds = 0;
  int opsBefore = 0, opsAfter = 0;
};

/// Before/after hooks around every pass. An instrument may fail a run (the verifier does): return a
/// Diag from runAfterPass. Instruments see the context read-only.
class Instrument {
public:
  virtual ~Instrument() = default;
  /// Once, before the first pass; the graph is still empty (the model is in ctx.program).
  virtual std::optional<Diag> runBeforePipeline(const PassContext& ctx) { return std::nullopt; }
  virtual void runBeforePass(const PassInfo& pass, int index, const PassContext& ctx) {}
  virtual std::optional<Diag> runAfterPass(const PassRecord& record, const PassContext& ctx) {
    return std::nullopt;
  }
  /// Once, after the last pass that ran (also after --stop-after).
  virtual std::optional<Diag> runAfterPipeline(const PassContext& ctx) { return std::nullopt; }
};

/// A pipeline as the manager runs it: the passes, plus which of them are disabled and where to
/// stop.
struct PassManagerOptions {
  std::vector<std::string> disabled; ///< skipped; a warning when a later pass requires one
  std::string stopAfter;             ///< "" = run to the end
};

class PassManager {
public:
  /// `pipeline` holds registered passes (see passes/pipeline.h to build one by name).
  explicit PassManager(std::vector<const PassInfo*> pipeline, PassManagerOptions options = {});

  void addInstrument(std::unique_ptr<Instrument> instrument);

  /// Runs the pipeline over `ctx`; the first failure (a pass's or an instrument's) ends the run.
  /// Failures from a pass say which pass: "... (in pass 'simplify')" unless they name a file.
  Expected<std::vector<PassRecord>> run(PassContext& ctx);

private:
  std::vector<const PassInfo*> pipeline_;
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Instrument>> instruments_;
};

} // namespace gptc
