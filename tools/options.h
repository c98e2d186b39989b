// tools/options.h — the flags `gptc compile` and `gptc run` share, and the one function that turns
// them into a compiled graph: read the model, apply --set/--batch/--seq, run a pipeline with the
// instruments the pass-manager flags ask for (print, dump, verify, time).
//
// What it leaves to others: each command owns its positional arguments, its own flags and what it
// does with the graph (compile prints a summary, run executes it). The passes and pipelines
// themselves live in passes/ (passes.def, pipeline.cpp); this file only maps flags onto them.
//
// Usage from a command (CLI11):
//   gptc::tools::ModelFlags model;       addModelFlags(app, model);
//   gptc::tools::PipelineFlags pipeline; addPipelineFlags(app, pipeline, "train");
//   CLI11_PARSE-equivalent ...
//   auto compiled = compileModel(path, model, pipeline, stderr);
//   if (!compiled) { fputs(compiled.error().render().c_str(), stderr); fputc('\n', stderr); return
//   2; } Graph& g = compiled->graph;
#pragma once
#include "ir/ast.h"
#include "ir/graph.h"
#include "ir/parser.h"
#include "passes/memory_plan.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gptc::tools {

/// The model `gptc run --train`, `--generate` and `gptc report` use when none is given.
inline constexpr const char* kDefaultModel = "models/chargpt.graph";
/// Where `gptc run --train` writes a model's run when -o is not given (out/<model name>), and so
/// where `gptc run --generate` looks for its weights without --init.
std::string defaultRunDir(const std::string& modelPath);

/// Parses argv into `app`, the one way every command does. Returns -1 when the command should go
/// on; otherwise the exit code to return: 0 after --help (printed on stdout), 2 after a usage error
/// printed as one line, "gptc COMMAND: what (try gptc COMMAND --help)".
int parseCommandLine(CLI::App& app, int argc, char** argv, const std::string& command);

/// --set k=v (repeatable), --batch B, --seq T: constant overrides applied when the model is
/// expanded.
struct ModelFlags {
  std::vector<std::string> sets; ///< raw "name=value" texts, in command-line order
  int64_t batch = 0;             ///< --batch: shorthand for --set B=...; 0 = the model's own value
  int64_t seq = 0;               ///< --seq: shorthand for --set T=...; 0 = the model's own value
};

/// --pipeline and the pass-manager flags (LLVM/MLIR names). Pass names are checked against
/// passes/passes.def when the pipeline is built; an unknown name is a one-line error.
struct PipelineFlags {
  std::string pipeline = "inference";     ///< a name from passes/pipeline.cpp: inference | train
  std::vector<std::string> printIrBefore; ///< --print-ir-before=P[,P]
  std::vector<std::string> printIrAfter;  ///< --print-ir-after=P[,P]
  bool printIrAfterAll = false;           ///< --print-ir-after-all
  bool printIrAfterChange = false;        ///< --print-ir-after-change (only passes that changed it)
  std::string irDumpDir;   ///< --ir-dump-dir=DIR: 000_input.graph, 001_after_expand...
  bool verifyEach = false; ///< --verify-each: ir/verifier.h after every pass
  bool timePasses = false; ///< --time-passes: a table at the end
  std::string stopAfter;   ///< --stop-after=P: the graph as P left it
  std::vector<std::string> disablePasses; ///< --disable-pass=P[,P]
  bool noMemoryPlan = false;              ///< --no-memory-plan: every value its own buffer
  bool explainMemory = false;             ///< --explain-memory: why each in-place reuse was refused
  bool explainFusion = false;             ///< --explain-fusion: why each candidate was not fused
  std::string weights = "f32"; ///< --weights (run --eval): the quantize pass's dtype
};

/// Registers --set, --batch and --seq on `app`, writing into `flags`.
void addModelFlags(CLI::App& app, ModelFlags& flags);

/// Registers --pipeline (default `defaultPipeline`, which is also written into flags.pipeline) and
/// every pass-manager flag on `app`, writing into `flags`.
void addPipelineFlags(CLI::App& app, PipelineFlags& flags, const std::string& defaultPipeline);

/// The --set/--batch/--seq overrides as the expander takes them. A malformed --set (no '='), or
/// --batch/--seq on a model without a constant B/T, is a Diag with no location (renders on one
/// line).
Expected<ConstOverrides> constOverrides(const ModelFlags& flags, const ast::Program& program);

/// What compileModel hands back.
struct CompiledModel {
  Graph graph;                             ///< after the last pass that ran
  std::shared_ptr<ast::Program> program;   ///< the model as parsed (source lines for carets)
  std::map<std::string, int64_t> counters; ///< pass counters, e.g. "simplify.scale-by-one" -> 12
  std::vector<std::string> passesRun;      ///< in order (a pass may appear twice)
  std::vector<std::string> warnings;       ///< already printed to `log`; kept for tests
  std::shared_ptr<MemoryPlan> plan;        ///< when plan-memory ran
};

/// Reads and parses `modelPath`, then runs the pipeline `pipelineFlags.pipeline` with the overrides
/// and instruments the flags ask for. Instrument output (printed IR, the --time-passes table,
/// warnings) goes to `log` (commands pass stderr, so stdout stays clean for --emit). Every failure
/// -- missing file, bad flag value, unknown pass name, an IR error located in the model, a verifier
/// failure "after <pass>" -- is a Diag; print its render() and exit 2.
Expected<CompiledModel> compileModel(const std::string& modelPath, const ModelFlags& modelFlags,
                                     const PipelineFlags& pipelineFlags, std::FILE* log);

} // namespace gptc::tools
