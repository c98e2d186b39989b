// The compile driver (driver/driver.h): source -> program -> pipeline with instruments -> graph and
// plan. What it leaves to others: the passes, the pipelines, what a caller does with the result.
#include "driver/driver.h"

#include "passes/pipeline.h"

#include <fmt/format.h>

namespace gptc {
namespace {

/// A Diag with no location: renders as one line, "error: message".
Diag plainError(std::string message) {
  return Diag{{}, std::move(message), ""};
}

/// Collects warnings as soon as the manager or a pass records them (and prints them when asked),
/// so they appear next to the dumps they concern rather than after the whole run.
class WarningCollector : public Instrument {
public:
  WarningCollector(std::FILE* log, std::vector<std::string>* collected)
      : log_(log), collected_(collected) {}
  std::optional<Diag> runBeforePipeline(const PassContext& ctx) override { return flush(ctx); }
  std::optional<Diag> runAfterPass(const PassRecord&, const PassContext& ctx) override {
    return flush(ctx);
  }
  std::optional<Diag> runAfterPipeline(const PassContext& ctx) override { return flush(ctx); }

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

} // namespace

Expected<std::shared_ptr<ast::Program>> loadModel(const ModelSource& source) {
  if (source.program) return source.program;
  if (!source.text.empty()) return parseProgram(source.text, source.path);
  if (source.path.empty()) return plainError("no model given");
  Expected<std::string> text = readTextFile(source.path);
  if (!text) return text.error();
  return parseProgram(*text, source.path);
}

Expected<ConstOverrides> parseAssignments(const std::vector<std::string>& assignments) {
  ConstOverrides out;
  for (const std::string& s : assignments) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
      return plainError(fmt::format("--set '{}': expected NAME=VALUE, e.g. --set L=2", s));
    out[s.substr(0, eq)] = s.substr(eq + 1); // a later assignment of the same name wins
  }
  return out;
}

Expected<CompiledProgram> compile(CompileRequest request) {
  // Names first: a typo should not wait for a large model to parse.
  std::vector<const PassInfo*> passes;
  bool training = request.training;
  if (request.passes.empty()) {
    const Pipeline* pipeline = findPipeline(request.pipeline);
    if (!pipeline)
      return plainError(fmt::format("--pipeline: unknown pipeline '{}' (pipelines: {})",
                                    request.pipeline, pipelineNameList()));
    Expected<std::vector<const PassInfo*>> resolved = resolvePipeline(*pipeline);
    if (!resolved) return resolved.error();
    passes = std::move(*resolved);
    training = pipeline->training;
  } else {
    for (const std::string& name : request.passes) {
      const PassInfo* p = findPass(name);
      if (!p)
        return plainError(fmt::format("unknown pass '{}' (passes: {})", name, passNameList()));
      passes.push_back(p);
    }
  }
  for (const std::string& name : request.disabledPasses)
    if (!findPass(name))
      return plainError(
          fmt::format("--disable-pass: unknown pass '{}' (passes: {})", name, passNameList()));
  if (!request.stopAfter.empty()) {
    bool inPipeline = false;
    for (const PassInfo* p : passes)
      inPipeline |= p->name == request.stopAfter;
    if (!inPipeline)
      return plainError(fmt::format("--stop-after: pass '{}' is not in pipeline '{}'",
                                    request.stopAfter,
                                    request.passes.empty() ? request.pipeline : "(given passes)"));
  }

  Expected<std::shared_ptr<ast::Program>> program = loadModel(request.model);
  if (!program) return program.error();

  Expected<ModelCard> card = readModelCard(**program);
  if (!card) return card.error();

  CompiledProgram result;
  result.program = *program;
  result.card = std::move(*card);
  PassContext ctx;
  ctx.program = *program;
  ctx.overrides = std::move(request.overrides);
  ctx.training = training;
  ctx.options = std::move(request.passOptions);
  ctx.noMemoryPlan = request.noMemoryPlan;
  ctx.explainMemory = request.explainMemory;
  ctx.explainFusion = request.explainFusion;
  ctx.memoryBudget = request.memoryBudget;
  ctx.memoryBudgetSweep = request.memoryBudgetSweep;

  PassManager pm(std::move(passes),
                 PassManagerOptions{std::move(request.disabledPasses), request.stopAfter});
  pm.addInstrument(std::make_unique<WarningCollector>(request.warningLog, &result.warnings));
  for (std::unique_ptr<Instrument>& instrument : request.instruments)
    pm.addInstrument(std::move(instrument));
  Expected<std::vector<PassRecord>> records = pm.run(ctx);
  if (!records) return records.error();
  result.records = std::move(*records);
  for (const PassRecord& r : result.records)
    result.passesRun.emplace_back(r.pass->name);
  result.graph = std::move(ctx.graph);
  result.counters = std::move(ctx.counters);
  result.plan = std::move(ctx.plan);
  result.fusionNotes = std::move(ctx.fusionNotes);
  result.remat = std::move(ctx.remat);
  return result;
}

Expected<Graph> compileGraph(std::shared_ptr<ast::Program> program, const ConstOverrides& overrides,
                             const std::string& pipeline,
                             const std::vector<std::string>& disabledPasses) {
  CompileRequest request;
  request.model = ModelSource::parsed(std::move(program));
  request.overrides = overrides;
  request.pipeline = pipeline;
  request.disabledPasses = disabledPasses;
  Expected<CompiledProgram> compiled = compile(std::move(request));
  if (!compiled) return compiled.error();
  return std::move(compiled->graph);
}

} // namespace gptc
