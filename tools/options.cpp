// The shared flags (tools/options.h): CLI11 registration, the --set/--batch/--seq overrides, and
// compileModel, which maps the pass-manager flags onto passes/instruments.h and a CompileRequest
// for the driver (driver/driver.h).
// What it leaves to others: the passes, the pipelines, and what each command does with the graph.
#include "tools/options.h"

#include "driver/driver.h"
#include "tools/input_checks.h"

#include "passes/instruments.h"
#include "passes/optimizer.h"
#include "passes/pipeline.h"
#include "passes/remat.h"
#include "runtime/train/lr_schedule.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fmt/format.h>
#include <initializer_list>

namespace gptc::tools {
namespace {

/// A Diag with no location: renders as one line, "error: message".
Diag usageError(std::string message) {
  return Diag{{}, std::move(message), ""};
}

std::optional<Diag> checkPassNames(const std::vector<std::string>& names, const char* flag) {
  for (const std::string& n : names)
    if (!findPass(n))
      return usageError(fmt::format("{}: unknown pass '{}' (passes: {})", flag, n, passNameList()));
  return std::nullopt;
}

} // namespace

void addSetFlag(CLI::App& app, std::vector<std::string>& sets) {
  // One or more assignments after each --set, and --set repeatable: `--set L=2 C=64 --set NH=4`.
  // The assignments end at the next flag (put MODEL.graph before --set, or after another flag).
  app.add_option("--set", sets,
                 "override model constants: --set L=2 C=64 (one or more NAME=VALUE; repeatable; "
                 "a value is a number or a constant expression)")
      ->type_name("NAME=VALUE ...")
      ->take_all()
      ->expected(1, -1);
}

void addModelFlags(CLI::App& app, ModelFlags& flags) {
  addSetFlag(app, flags.sets);
  auto positive = CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          size_t used = 0;
          long long v = std::stoll(s, &used);
          if (used == s.size() && v > 0) return "";
        } catch (...) {
        }
        return "'" + s + "' is not a positive integer";
      },
      "POSITIVE");
  app.add_option("-b,--batch", flags.batch,
                 "batch size: shorthand for --set B=... (an error when both are given)")
      ->type_name("B")
      ->check(positive);
  app.add_option("-t,--seq", flags.seq,
                 "sequence length: shorthand for --set T=... (an error when both are given)")
      ->type_name("T")
      ->check(positive);
}

void addOptimizerFlags(CLI::App& app, OptimizerFlags& f) {
  app.add_option("-l,--lr", f.lr, fmt::format("peak learning rate (default {})", f.lr))
      ->type_name("LR");
  app.add_option("-u,--warmup", f.warmup, fmt::format("linear warmup steps (default {})", f.warmup))
      ->type_name("N");
  app.add_option("--lr-schedule", f.lrSchedule,
                 fmt::format("after warmup: cosine or linear decay to --min-lr-fraction of --lr, "
                             "or constant (default {})",
                             f.lrSchedule))
      ->type_name("cosine|linear|constant");
  app.add_option(
         "-q,--min-lr-fraction", f.minLrFraction,
         fmt::format("the decay's floor as a fraction of --lr (default {})", f.minLrFraction))
      ->type_name("F");
  app.add_option("--weight-decay", f.weightDecay,
                 fmt::format("AdamW's decoupled weight decay, on weight matrices only (default {})",
                             f.weightDecay))
      ->type_name("X");
  app.add_option("--beta1", f.beta1, fmt::format("AdamW's beta1 (default {})", f.beta1))
      ->type_name("X");
  app.add_option("--beta2", f.beta2, fmt::format("AdamW's beta2 (default {})", f.beta2))
      ->type_name("X");
  app.add_option("--eps", f.eps, fmt::format("AdamW's epsilon (default {})", f.eps))
      ->type_name("X");
  app.add_option(
         "--grad-clip", f.gradClip,
         fmt::format("clip the global gradient norm to this (default {}; 0 = off)", f.gradClip))
      ->type_name("X");
}

std::string checkOptimizerFlags(const OptimizerFlags& f) {
  auto number = [](double x) { return std::isfinite(x); };
  if (!(f.lr > 0) || !number(f.lr))
    return fmt::format("--lr must be a positive number, got {}", f.lr);
  if (f.warmup < 0) return fmt::format("--warmup must be >= 0, got {}", f.warmup);
  if (!(f.minLrFraction >= 0 && f.minLrFraction <= 1))
    return fmt::format("--min-lr-fraction must be in [0, 1], got {}", f.minLrFraction);
  LrSchedule::Kind kind;
  if (!LrSchedule::kindFromName(f.lrSchedule, &kind))
    return fmt::format("--lr-schedule must be cosine, linear or constant, got '{}'", f.lrSchedule);
  if (!(f.weightDecay >= 0) || !number(f.weightDecay))
    return fmt::format("--weight-decay must be >= 0, got {}", f.weightDecay);
  if (!(f.beta1 >= 0 && f.beta1 < 1))
    return fmt::format("--beta1 must be in [0, 1), got {}", f.beta1);
  if (!(f.beta2 >= 0 && f.beta2 < 1))
    return fmt::format("--beta2 must be in [0, 1), got {}", f.beta2);
  if (!(f.eps > 0) || !number(f.eps)) return fmt::format("--eps must be > 0, got {}", f.eps);
  if (!(f.gradClip >= 0) || !number(f.gradClip))
    return fmt::format("--grad-clip must be >= 0 (0 = off), got {}", f.gradClip);
  return "";
}

std::map<std::string, std::string> optimizerPassOptions(const OptimizerFlags& f) {
  OptimizerOptions o;
  o.beta1 = f.beta1;
  o.beta2 = f.beta2;
  o.eps = f.eps;
  o.weightDecay = f.weightDecay;
  o.clip = f.gradClip;
  return gptc::optimizerPassOptions(o);
}

std::string describeOptimizer(const OptimizerFlags& f) {
  std::string schedule =
      f.lrSchedule == "constant"
          ? fmt::format("warmup {}, then constant", f.warmup)
          : fmt::format("warmup {}, {} to {:.3g}", f.warmup, f.lrSchedule, f.lr * f.minLrFraction);
  return fmt::format(
      "AdamW lr {:.3g} ({}), betas ({}, {}), eps {:g}, weight decay {}, grad clip {}", f.lr,
      schedule, f.beta1, f.beta2, f.eps, f.weightDecay,
      f.gradClip > 0 ? fmt::format("{}", f.gradClip) : std::string("off"));
}

std::map<std::string, std::string> optimizerInfo(const OptimizerFlags& f) {
  return {{"lr", fmt::format("{}", f.lr)},
          {"min_lr_fraction", fmt::format("{}", f.minLrFraction)},
          {"warmup", fmt::format("{}", f.warmup)},
          {"lr_schedule", f.lrSchedule},
          {"weight_decay", fmt::format("{}", f.weightDecay)},
          {"beta1", fmt::format("{}", f.beta1)},
          {"beta2", fmt::format("{}", f.beta2)},
          {"eps", fmt::format("{}", f.eps)},
          {"grad_clip", fmt::format("{}", f.gradClip)}};
}

void addPipelineFlags(CLI::App& app, PipelineFlags& flags, const std::string& defaultPipeline) {
  flags.pipeline = defaultPipeline;
  std::string pipelines;
  for (const Pipeline& p : allPipelines())
    pipelines += fmt::format("\n  {}: {}", p.name, p.description);
  app.add_option("--pipeline", flags.pipeline, "which pipeline to run:" + pipelines)
      ->type_name("NAME")
      ->default_str(defaultPipeline);
  std::string names = " (passes: " + passNameList() + ")";
  app.add_option("--print-ir-before", flags.printIrBefore,
                 "print the IR before these passes, on stderr" + names)
      ->type_name("PASS[,PASS]")
      ->delimiter(',')
      ->allow_extra_args(false);
  app.add_option("--print-ir-after", flags.printIrAfter,
                 "print the IR after these passes, on stderr" + names)
      ->type_name("PASS[,PASS]")
      ->delimiter(',')
      ->allow_extra_args(false);
  app.add_option("--pass-option", flags.passOptionFlags,
                 "set a pass option KEY=VALUE (e.g. data-parallel.ranks=2: one rank's step of 2)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_flag("--print-ir-after-all", flags.printIrAfterAll, "print the IR after every pass");
  app.add_flag("--print-ir-after-change", flags.printIrAfterChange,
               "print the IR after every pass that changed its printed text");
  app.add_option("--ir-dump-dir", flags.irDumpDir,
                 "write DIR/000_input.graph, DIR/001_after_expand.graph, ... and DIR/index.json")
      ->type_name("DIR");
  app.add_flag("--verify-each", flags.verifyEach,
               "run the IR verifier after every pass and check each pass's 'changed' claim");
  app.add_flag("--time-passes", flags.timePasses, "print a table of pass timings on stderr");
  app.add_flag("--no-memory-plan", flags.noMemoryPlan,
               "plan-memory gives the naive plan (program order, every value its own buffer), for "
               "bisecting");
  app.add_flag("--explain-memory", flags.explainMemory,
               "say why each in-place reuse was refused (printed with the memory report)");
  app.add_flag("--explain-fusion", flags.explainFusion,
               "say, for each fusion candidate the fuse pass did not fuse, why not (on stderr)");
  app.add_option("--memory-budget", flags.memoryBudget,
                 "plan within SIZE bytes in all (3GiB, 800MiB): the remat pass recomputes forward "
                 "values in the backward to fit; 'sweep' prints the memory/FLOPs trade-off")
      ->type_name("SIZE|sweep");
  app.add_flag("--fused-attention,!--no-fused-attention", flags.fusedAttention,
               "attention as one fused op: online softmax by key blocks, no T×T weights in the "
               "step (the fuse-attention pass; the default); --no-fused-attention: the unfused "
               "ops");
  app.add_flag("--fused-lm-head", flags.fusedLmHead,
               "training: the head's matmul and the loss as one op computed by chunks of rows, no "
               "[B·T, V] logits in the step (the fuse-lm-head pass)");
  app.add_option("--stop-after", flags.stopAfter, "stop the pipeline after this pass")
      ->type_name("PASS");
  app.add_option("--disable-pass", flags.disablePasses, "skip these passes")
      ->type_name("PASS[,PASS]")
      ->delimiter(',')
      ->allow_extra_args(false);
}

Expected<ConstOverrides> constOverrides(const ModelFlags& flags, const ast::Program& program) {
  Expected<ConstOverrides> defaults = parseAssignments(flags.defaults);
  if (!defaults) return defaults.error();
  Expected<ConstOverrides> given = parseAssignments(flags.sets);
  if (!given) return given.error();
  ConstOverrides out = std::move(*defaults);
  for (auto& [name, value] : *given)
    out[name] = value;
  // -b/-t conflict only with a --set of the same constant that was given, never with a default.
  auto shorthand = [&](int64_t value, const char* flag, const char* name) -> std::optional<Diag> {
    if (value == 0) return std::nullopt;
    bool has = false;
    for (const ast::ConstDecl& c : program.consts)
      has |= c.name == name;
    if (!has)
      return usageError(
          fmt::format("{}: the model {} has no constant '{}'", flag, program.file, name));
    if (given->count(name))
      return usageError(fmt::format("{} and --set {}=... both given; use one", flag, name));
    out[name] = std::to_string(value);
    return std::nullopt;
  };
  if (auto e = shorthand(flags.batch, "--batch", "B")) return *e;
  if (auto e = shorthand(flags.seq, "--seq", "T")) return *e;
  return out;
}

Expected<CompiledModel> compileModel(const std::string& modelPath, const ModelFlags& modelFlags,
                                     const PipelineFlags& pf, std::FILE* log) {
  // Flags first: a typo in a pass name should not wait for a large model to parse. The driver
  // checks the pipeline, --disable-pass and --stop-after; the printing flags are ours.
  if (!findPipeline(pf.pipeline))
    return usageError(fmt::format("--pipeline: unknown pipeline '{}' (pipelines: {})", pf.pipeline,
                                  pipelineNameList()));
  if (auto e = checkPassNames(pf.printIrBefore, "--print-ir-before")) return *e;
  if (auto e = checkPassNames(pf.printIrAfter, "--print-ir-after")) return *e;
  if (auto e = checkPassNames(pf.disablePasses, "--disable-pass")) return *e;
  if (!pf.stopAfter.empty())
    if (auto e = checkPassNames({pf.stopAfter}, "--stop-after")) return *e;

  Expected<std::shared_ptr<ast::Program>> program = loadModel(ModelSource::file(modelPath));
  if (!program) return program.error();
  if (std::optional<Diag> e = checkModelNotEmpty(**program)) return *e;
  Expected<ConstOverrides> overrides = constOverrides(modelFlags, **program);
  if (!overrides) return overrides.error();

  CompileRequest request;
  request.model = ModelSource::parsed(*program);
  request.overrides = std::move(*overrides);
  request.pipeline = pf.pipeline;
  request.passOptions = pf.passOptions;
  request.disabledPasses = pf.disablePasses;
  request.stopAfter = pf.stopAfter;
  request.noMemoryPlan = pf.noMemoryPlan;
  request.explainMemory = pf.explainMemory;
  request.explainFusion = pf.explainFusion;
  request.warningLog = log;
  if (pf.memoryBudget == "sweep") {
    request.memoryBudgetSweep = true;
  } else if (!pf.memoryBudget.empty()) {
    Expected<int64_t> budget = parseByteSize(pf.memoryBudget);
    if (!budget) return usageError(budget.error().message);
    request.memoryBudget = *budget;
  }
  request.passOptions["quantize.weights"] = pf.weights;
  if (pf.fusedAttention) request.passOptions["attention.fused"] = "1";
  if (pf.fusedLmHead) request.passOptions["lm-head.fused"] = "1";
  for (const std::string& kv : pf.passOptionFlags) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return usageError("--pass-option " + kv + ": expected KEY=VALUE");
    request.passOptions[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // The dump comes before the verifier, so a run that fails verification still leaves the
  // offending IR on disk.
  if (!pf.irDumpDir.empty()) request.instruments.push_back(makeDumpDir(pf.irDumpDir));
  PrintIrConfig print;
  print.before.insert(pf.printIrBefore.begin(), pf.printIrBefore.end());
  print.after.insert(pf.printIrAfter.begin(), pf.printIrAfter.end());
  print.afterAll = pf.printIrAfterAll;
  print.afterChange = pf.printIrAfterChange;
  if (log && (!print.before.empty() || !print.after.empty() || print.afterAll || print.afterChange))
    request.instruments.push_back(makePrintIr(print, fileSink(log)));
  if (pf.verifyEach) {
    request.instruments.push_back(makeVerifyEach());
    request.instruments.push_back(makeChangeCheck());
  }
  if (log && pf.timePasses) request.instruments.push_back(makeTimePasses(fileSink(log)));

  Expected<CompiledProgram> compiled = compile(std::move(request));
  if (!compiled) return compiled.error();
  if (log && pf.explainFusion)
    for (const std::string& note : compiled->fusionNotes)
      std::fprintf(log, "%s\n", note.c_str());
  CompiledModel result;
  result.graph = std::move(compiled->graph);
  result.program = std::move(compiled->program);
  result.counters = std::move(compiled->counters);
  result.passesRun = std::move(compiled->passesRun);
  result.warnings = std::move(compiled->warnings);
  result.plan = std::move(compiled->plan);
  result.remat = std::move(compiled->remat);
  return result;
}

OptimizerFlags optimizerFlagsFromInfo(const std::map<std::string, std::string>& info) {
  OptimizerFlags f;
  auto number = [&](const char* key, double* value) {
    auto it = info.find(key);
    if (it == info.end()) return;
    char* end = nullptr;
    double x = std::strtod(it->second.c_str(), &end);
    if (!it->second.empty() && *end == '\0') *value = x;
  };
  number("lr", &f.lr);
  number("min_lr_fraction", &f.minLrFraction);
  number("weight_decay", &f.weightDecay);
  number("beta1", &f.beta1);
  number("beta2", &f.beta2);
  number("eps", &f.eps);
  number("grad_clip", &f.gradClip);
  double warmup = double(f.warmup);
  number("warmup", &warmup);
  f.warmup = int64_t(warmup);
  if (auto it = info.find("lr_schedule"); it != info.end()) f.lrSchedule = it->second;
  return f;
}

int parseCommandLine(CLI::App& app, int argc, char** argv, const std::string& command) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::fprintf(stderr, "gptc %s: %s (try gptc %s --help)\n", command.c_str(), msg.c_str(),
                 command.c_str());
    return 2;
  }
  return -1;
}

namespace {
/// `relative` under the first of `subs` found beside the binary's folder or its parents, else
/// under the source tree gptc was built from; "" when neither has it.
std::string findBesideBinaryOrSource(const std::string& relative,
                                     std::initializer_list<const char*> subs) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty(); dir = dir.parent_path()) {
      for (const char* sub : subs)
        if (fs::exists(dir / sub / relative, ec))
          return (dir / sub / relative).lexically_normal().string();
      if (dir == dir.root_path()) break;
    }
#ifdef GPTC_SOURCE_DIR
  for (const char* sub : subs)
    if (fs::exists(fs::path(GPTC_SOURCE_DIR) / sub / relative, ec))
      return (fs::path(GPTC_SOURCE_DIR) / sub / relative).lexically_normal().string();
#endif
  return "";
}
} // namespace

std::string assetPath(const std::string& relative) {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("GPTC_ASSETS"); env && *env)
    return (fs::path(env) / relative).string();
  std::string found = findBesideBinaryOrSource(relative, {"assets", "share/gptc/assets"});
  return found.empty() ? (fs::path("assets") / relative).string() : found;
}

std::string sourceTreePath(const std::string& relative) {
  std::error_code ec;
  if (std::filesystem::exists(relative, ec)) return relative;
  std::string found = findBesideBinaryOrSource(relative, {".", "share/gptc"});
  return found.empty() ? relative : found;
}

std::string defaultRunDir(const std::string& modelPath) {
  return "out/" + std::filesystem::path(modelPath).stem().string();
}

} // namespace gptc::tools
