// The shared flags (tools/options.h): CLI11 registration, the --set/--batch/--seq overrides, and
// compileModel, which maps the pass-manager flags onto passes/instruments.h and runs a pipeline.
// What it leaves to others: the passes, the pipelines, and what each command does with the graph.
#include "tools/options.h"

#include "passes/instruments.h"
#include "passes/pipeline.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fmt/format.h>

namespace gptc::tools {
namespace {

/// A Diag with no location: renders as one line, "error: message".
Diag usageError(std::string message) {
  return Diag{{}, std::move(message), ""};
}

/// An instrument that prints warnings as soon as the manager or a pass records them, so they
/// appear next to the dumps they concern rather than after the whole run.
class WarningPrinter : public Instrument {
public:
  WarningPrinter(std::FILE* log, std::vector<std::string>* collected)
      : log_(log), collected_(collected) {}
  std::optional<Diag> runBeforePipeline(const PassContext& ctx) override { return flush(ctx); }
  std::optional<Diag> runAfterPass(const PassRecord&, const PassContext& ctx) override {
    return flush(ctx);
  }

private:
  std::optional<Diag> flush(const PassContext& ctx) {
    for (; printed_ < ctx.warnings.size(); ++printed_) {
      if (log_) std::fprintf(log_, "%s\n", ctx.warnings[printed_].c_str());
      collected_->push_back(ctx.warnings[printed_]);
    }
    return std::nullopt;
  }
  std::FILE* log_;
  std::vector<std::string>* collected_;
  size_t printed_ = 0;
};

std::optional<Diag> checkPassNames(const std::vector<std::string>& names, const char* flag) {
  for (const std::string& n : names)
    if (!findPass(n))
      return usageError(fmt::format("{}: unknown pass '{}' (passes: {})", flag, n, passNameList()));
  return std::nullopt;
}

} // namespace

void addModelFlags(CLI::App& app, ModelFlags& flags) {
  app.add_option("--set", flags.sets,
                 "override a model constant, e.g. --set L=2 (repeatable; value: a number or a "
                 "constant expression)")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);
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
  app.add_option("--batch", flags.batch, "batch size: shorthand for --set B=...")
      ->type_name("B")
      ->check(positive);
  app.add_option("--seq", flags.seq, "sequence length: shorthand for --set T=...")
      ->type_name("T")
      ->check(positive);
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
  app.add_option("--stop-after", flags.stopAfter, "stop the pipeline after this pass")
      ->type_name("PASS");
  app.add_option("--disable-pass", flags.disablePasses, "skip these passes")
      ->type_name("PASS[,PASS]")
      ->delimiter(',')
      ->allow_extra_args(false);
}

Expected<ConstOverrides> constOverrides(const ModelFlags& flags, const ast::Program& program) {
  ConstOverrides out;
  for (const std::string& s : flags.sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
      return usageError(fmt::format("--set '{}': expected NAME=VALUE, e.g. --set L=2", s));
    out[s.substr(0, eq)] = s.substr(eq + 1); // later --set of the same name wins, as usual
  }
  auto shorthand = [&](int64_t value, const char* flag, const char* name) -> std::optional<Diag> {
    if (value == 0) return std::nullopt;
    bool has = false;
    for (const ast::ConstDecl& c : program.consts)
      has |= c.name == name;
    if (!has)
      return usageError(
          fmt::format("{}: the model {} has no constant '{}'", flag, program.file, name));
    if (out.count(name))
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
  // Flags first: a typo in a pass name should not wait for a large model to parse.
  const Pipeline* pipeline = findPipeline(pf.pipeline);
  if (!pipeline)
    return usageError(fmt::format("--pipeline: unknown pipeline '{}' (pipelines: {})", pf.pipeline,
                                  pipelineNameList()));
  if (auto e = checkPassNames(pf.printIrBefore, "--print-ir-before")) return *e;
  if (auto e = checkPassNames(pf.printIrAfter, "--print-ir-after")) return *e;
  if (auto e = checkPassNames(pf.disablePasses, "--disable-pass")) return *e;
  if (!pf.stopAfter.empty()) {
    if (auto e = checkPassNames({pf.stopAfter}, "--stop-after")) return *e;
    bool inPipeline = false;
    for (const PipelineEntry& entry : pipeline->entries)
      inPipeline |= entry.pass == pf.stopAfter;
    if (!inPipeline)
      return usageError(fmt::format("--stop-after: pass '{}' is not in pipeline '{}'", pf.stopAfter,
                                    pipeline->name));
  }
  Expected<std::vector<const PassInfo*>> passes = resolvePipeline(*pipeline);
  if (!passes) return passes.error();

  Expected<std::string> text = readTextFile(modelPath);
  if (!text) return text.error();
  Expected<std::shared_ptr<ast::Program>> program = parseProgram(*text, modelPath);
  if (!program) return program.error();
  Expected<ConstOverrides> overrides = constOverrides(modelFlags, **program);
  if (!overrides) return overrides.error();

  CompiledModel result;
  result.program = *program;
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = *overrides;
  ctx.training = pipeline->training;
  ctx.noMemoryPlan = pf.noMemoryPlan;
  ctx.explainMemory = pf.explainMemory;
  ctx.explainFusion = pf.explainFusion;
  ctx.options["quantize.weights"] = pf.weights;

  PassManager pm(*passes, PassManagerOptions{pf.disablePasses, pf.stopAfter});
  pm.addInstrument(std::make_unique<WarningPrinter>(log, &result.warnings));
  // The dump comes before the verifier, so a run that fails verification still leaves the
  // offending IR on disk.
  if (!pf.irDumpDir.empty()) pm.addInstrument(makeDumpDir(pf.irDumpDir));
  PrintIrConfig print;
  print.before.insert(pf.printIrBefore.begin(), pf.printIrBefore.end());
  print.after.insert(pf.printIrAfter.begin(), pf.printIrAfter.end());
  print.afterAll = pf.printIrAfterAll;
  print.afterChange = pf.printIrAfterChange;
  if (log && (!print.before.empty() || !print.after.empty() || print.afterAll || print.afterChange))
    pm.addInstrument(makePrintIr(print, fileSink(log)));
  if (pf.verifyEach) {
    pm.addInstrument(makeVerifyEach());
    pm.addInstrument(makeChangeCheck());
  }
  if (log && pf.timePasses) pm.addInstrument(makeTimePasses(fileSink(log)));

  Expected<std::vector<PassRecord>> records = pm.run(ctx);
  if (!records) return records.error();
  if (log && pf.explainFusion)
    for (const std::string& note : ctx.fusionNotes)
      std::fprintf(log, "%s\n", note.c_str());
  for (const PassRecord& r : *records)
    result.passesRun.emplace_back(r.pass->name);
  result.graph = std::move(ctx.graph);
  result.counters = std::move(ctx.counters);
  result.plan = std::move(ctx.plan);
  return result;
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

std::string defaultRunDir(const std::string& modelPath) {
  return "out/" + std::filesystem::path(modelPath).stem().string();
}

} // namespace gptc::tools
