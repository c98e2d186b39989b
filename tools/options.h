// tools/options.h — the flags `gptc compile` and `gptc run` share, and the one function that turns
// them into a request for the compile driver (driver/driver.h): the model, --set/--batch/--seq,
// the pipeline and the instruments the pass-manager flags ask for (print, dump, verify, time).
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

namespace gptc {
struct RematReport;
}

namespace gptc::tools {

/// The model `gptc run --train`, `--generate` and `gptc report` use when none is given.
inline constexpr const char* kDefaultModel = "models/chargpt.graph";
/// Where `gptc run --train` writes a model's run when -o is not given (out/<model name>), and so
/// where `gptc run --generate` looks for its weights without --init.
std::string defaultRunDir(const std::string& modelPath);

/// The run-time asset `relative` (e.g. "gpt2_tokenizer"): under $GPTC_ASSETS when set, else the
/// first `assets/` (or `share/gptc/assets/`) found beside the binary's folder or its parents, else
/// the source tree gptc was built from, else `./assets`. The path returned may not exist (the
/// caller's error then names it).
std::string assetPath(const std::string& relative);

/// A default file of the source tree (kDefaultModel, "data/tinyshakespeare.txt", a model card's
/// `data = NAME`): `relative` itself when it exists from the current folder (the README's
/// commands run from the repo root), else the same path beside the binary's folder or its parents
/// (or under `share/gptc/`), else in the source tree gptc was built from, else `relative` (the
/// caller's error then names it). Only for defaults: a path the user gives is used as given.
std::string sourceTreePath(const std::string& relative);

/// Parses argv into `app`, the one way every command does. Returns -1 when the command should go
/// on; otherwise the exit code to return: 0 after --help (printed on stdout), 2 after a usage error
/// printed as one line, "gptc COMMAND: what (try gptc COMMAND --help)".
int parseCommandLine(CLI::App& app, int argc, char** argv, const std::string& command);

/// --set k=v (repeatable), --batch B, --seq T: constant overrides applied when the model is
/// expanded.
struct ModelFlags {
  std::vector<std::string> sets; ///< raw "name=value" texts, in command-line order
  /// A command's own defaults ("L=4", "B=32"), applied before `sets`; the user's flags override
  /// them silently (they are not "given", so -b does not conflict with a default B).
  std::vector<std::string> defaults;
  int64_t batch = 0; ///< --batch: shorthand for --set B=...; 0 = the model's own value
  int64_t seq = 0;   ///< --seq: shorthand for --set T=...; 0 = the model's own value
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
  /// Pass options set by the command, not a flag of their own (the optimizer's settings).
  std::map<std::string, std::string> passOptions;
  std::string memoryBudget;    ///< --memory-budget SIZE|sweep: the remat pass (passes/remat.h)
  std::string weights = "f32"; ///< --weights (run --eval): the quantize pass's dtype
  bool fusedAttention = true;  ///< --no-fused-attention turns off passes/fuse_attention.cpp
  bool fusedLmHead = false;    ///< --fused-lm-head: passes/fuse_lm_head.cpp (training steps only)
  /// --pass-option KEY=VALUE (repeatable): a pass option by hand, e.g. data-parallel.ranks=2 to
  /// see the step one rank of 2 compiles.
  std::vector<std::string> passOptionFlags;
};

/// Registers --set, -b/--batch and -t/--seq on `app`, writing into `flags`. Every command spells
/// them alike: --set takes one or more NAME=VALUE after it and may be repeated
/// (`--set L=2 C=64 --set NH=4`).
void addModelFlags(CLI::App& app, ModelFlags& flags);

/// Registers --set alone (commands that choose B and T themselves, like --generate).
void addSetFlag(CLI::App& app, std::vector<std::string>& sets);

/// The optimizer's flags (llm.c's and nanoGPT's names), for the trainer and the fixed-batch mode.
/// The defaults are the optimizer pass's (passes/optimizer.h); the schedule's default is the
/// command's (the trainer: cosine; the fixed batch: constant).
struct OptimizerFlags {
  double weightDecay = 0.1;   ///< --weight-decay (matrices only; biases and norms never decay)
  double beta1 = 0.9;         ///< --beta1
  double beta2 = 0.95;        ///< --beta2
  double eps = 1e-8;          ///< --eps
  double gradClip = 1.0;      ///< --grad-clip: max global gradient norm; 0 = off
  std::string lrSchedule;     ///< --lr-schedule cosine|linear|constant (after warmup)
  double lr = 1e-3;           ///< --lr: the peak learning rate
  int64_t warmup = 0;         ///< --warmup: linear warmup steps
  double minLrFraction = 0.1; ///< --min-lr-fraction: the decay's floor as a fraction of --lr
};

/// Registers --lr, --warmup, --min-lr-fraction, --lr-schedule, --weight-decay, --beta1, --beta2,
/// --eps and --grad-clip; the current values of `flags` are the defaults shown in --help.
void addOptimizerFlags(CLI::App& app, OptimizerFlags& flags);

/// "" or a one-line usage error ("--beta2 must be in [0, 1), got 1").
std::string checkOptimizerFlags(const OptimizerFlags& flags);

/// The flags as the optimizer pass's options (PipelineFlags::passOptions).
std::map<std::string, std::string> optimizerPassOptions(const OptimizerFlags& flags);

/// One line for logs: "AdamW lr 1e-3 (warmup 100, cosine to 1e-4), betas (0.9, 0.95), eps 1e-8,
/// weight decay 0.1, grad clip 1".
std::string describeOptimizer(const OptimizerFlags& flags);

/// The settings as key -> value texts (checkpoints store them; --resume compares them).
std::map<std::string, std::string> optimizerInfo(const OptimizerFlags& flags);
/// The inverse: the settings in `info` over the defaults (keys missing or malformed keep them).
OptimizerFlags optimizerFlagsFromInfo(const std::map<std::string, std::string>& info);

/// Registers --pipeline (default `defaultPipeline`, which is also written into flags.pipeline) and
/// every pass-manager flag on `app`, writing into `flags`.
void addPipelineFlags(CLI::App& app, PipelineFlags& flags, const std::string& defaultPipeline);

/// The --set/--batch/--seq overrides as the expander takes them. A malformed --set (no '='), or
/// --batch/--seq on a model without a constant B/T, is a Diag with no location (renders on one
/// line).
Expected<ConstOverrides> constOverrides(const ModelFlags& flags, const ast::Program& program);

/// What compileModel hands back.
struct CompiledModel {
  Graph graph;                              ///< after the last pass that ran
  std::shared_ptr<ast::Program> program;    ///< the model as parsed (source lines for carets)
  std::map<std::string, int64_t> counters;  ///< pass counters, e.g. "simplify.scale-by-one" -> 12
  std::vector<std::string> passesRun;       ///< in order (a pass may appear twice)
  std::vector<std::string> warnings;        ///< already printed to `log`; kept for tests
  std::shared_ptr<MemoryPlan> plan;         ///< when plan-memory ran
  std::shared_ptr<const RematReport> remat; ///< when remat ran with --memory-budget
};

/// Reads and parses `modelPath`, then runs the pipeline `pipelineFlags.pipeline` with the overrides
/// and instruments the flags ask for. Instrument output (printed IR, the --time-passes table,
/// warnings) goes to `log` (commands pass stderr, so stdout stays clean for --emit). Every failure
/// -- missing file, bad flag value, unknown pass name, an IR error located in the model, a verifier
/// failure "after <pass>" -- is a Diag; print its render() and exit 2.
Expected<CompiledModel> compileModel(const std::string& modelPath, const ModelFlags& modelFlags,
                                     const PipelineFlags& pipelineFlags, std::FILE* log);

} // namespace gptc::tools
