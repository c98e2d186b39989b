// driver/driver.h — the compile driver: the one place that turns a model into a compiled program.
// It reads (or takes) the model's source, parses it, applies constant overrides, runs a pipeline
// (a name from passes/pipeline.cpp, or an explicit list of passes) with pass options and
// instruments, and hands back the graph, the memory plan and every diagnostic as values.
//
// Every caller goes through it: `gptc compile` and `gptc run` (tools/options.cpp maps their flags
// onto a CompileRequest), the report (tools/cmd_report.cpp, with its own recording instrument),
// generation (runtime/generate/generator.cpp: the decode and prefill steps), the trainer's graphs
// and the tests (runtime/exec/step_engine.h's buildGraph). A new feature that changes how a model
// is compiled (a memory budget, a data-parallel pass) is a field here, not five edits.
//
// What it leaves to others: the passes and the pipelines (passes/), turning a graph and a plan
// into machine code (codegen/, runtime/exec/step_engine.h), and the command-line flags (tools/).
#pragma once
#include "driver/model_card.h"
#include "ir/ast.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "passes/memory_plan.h"
#include "passes/pass_manager.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gptc {

/// A model: a file, its source text, or an already parsed program (callers that compile one model
/// several times parse it once).
struct ModelSource {
  std::string path;                      ///< read when `text` is empty and `program` null
  std::string text;                      ///< the source; `path` then only names it in diagnostics
  std::shared_ptr<ast::Program> program; ///< parsed already: neither read nor parsed again

  static ModelSource file(std::string path) { return ModelSource{std::move(path), {}, nullptr}; }
  static ModelSource parsed(std::shared_ptr<ast::Program> p) { return ModelSource{{}, {}, p}; }
};

/// Reads and parses `source` (or returns its program). A Diag names the file or the line.
Expected<std::shared_ptr<ast::Program>> loadModel(const ModelSource& source);

/// "NAME=VALUE" texts (--set) as overrides, later ones winning; a malformed one is a Diag with no
/// location: "--set 'x': expected NAME=VALUE, e.g. --set L=2".
Expected<ConstOverrides> parseAssignments(const std::vector<std::string>& assignments);

/// What to compile and how.
struct CompileRequest {
  ModelSource model;
  ConstOverrides overrides;           ///< constants for expand (--set, -b, -t already merged)
  std::string pipeline = "inference"; ///< a pipeline name (passes/pipeline.cpp) ...
  std::vector<std::string> passes;    ///< ... or, when non-empty, these passes in this order
  bool training = false;              ///< with `passes`: build a training step (a pipeline says)
  std::map<std::string, std::string> passOptions; ///< PassContext::options ("optimizer.beta2")
  std::vector<std::string> disabledPasses;        ///< --disable-pass
  std::string stopAfter;                          ///< --stop-after
  bool noMemoryPlan = false;                      ///< --no-memory-plan
  bool explainMemory = false;                     ///< --explain-memory
  bool explainFusion = false;                     ///< --explain-fusion (notes in the result)
  int64_t memoryBudget = 0;       ///< --memory-budget in bytes (planned total); 0: none, no remat
  bool memoryBudgetSweep = false; ///< --memory-budget sweep: remat reports the trade-off curve
  /// Run in this order after the driver's warning collector (print, dump, verify, time, record).
  std::vector<std::unique_ptr<Instrument>> instruments;
  /// Warnings are also printed here as the passes record them (next to the dumps they concern);
  /// nullptr: only collected.
  std::FILE* warningLog = nullptr;
};

/// What the driver hands back.
struct CompiledProgram {
  Graph graph;                              ///< after the last pass that ran
  std::shared_ptr<ast::Program> program;    ///< the model as parsed (source lines for carets)
  ModelCard card;                           ///< what the model says it is (its `card` lines)
  std::shared_ptr<MemoryPlan> plan;         ///< when plan-memory ran
  std::map<std::string, int64_t> counters;  ///< pass counters ("simplify.scale-by-one" -> 12)
  std::vector<PassRecord> records;          ///< one per pass that ran, in order
  std::vector<std::string> passesRun;       ///< their names (a pass may appear twice)
  std::vector<std::string> warnings;        ///< non-fatal diagnostics, one line each
  std::vector<std::string> fusionNotes;     ///< with explainFusion: why candidates were not fused
  std::shared_ptr<const RematReport> remat; ///< what remat decided (with a memory budget)
};

/// Compiles `request`. Every failure is a Diag: a missing file, an unknown pipeline or pass name
/// (checked before the model is read, so a typo does not wait for a large model), an IR error
/// located in the model, a pass's or an instrument's failure ("after <pass>").
Expected<CompiledProgram> compile(CompileRequest request);

/// compile() for callers with nothing but a program, overrides and a pipeline: the graph alone.
Expected<Graph> compileGraph(std::shared_ptr<ast::Program> program, const ConstOverrides& overrides,
                             const std::string& pipeline,
                             const std::vector<std::string>& disabledPasses = {});

} // namespace gptc
