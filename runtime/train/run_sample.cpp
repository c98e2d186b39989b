// runtime/train/run_sample.cpp — a training run's sample through the KV-cache generator, or by
// recomputation when the model has no decode step (see run_sample.h).
#include "runtime/train/run_sample.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {

std::unique_ptr<RunSampler> RunSampler::create(std::shared_ptr<ast::Program> program,
                                               const ConstOverrides& overrides, int64_t runT,
                                               Engine engine, int threads, std::string* err) {
  std::unique_ptr<RunSampler> s(new RunSampler());
  GeneratorConfig cfg; // as `gptc run --generate` builds it for one prompt
  cfg.engine = engine;
  cfg.threads = threads;
  cfg.batch = 1;
  std::string why;
  s->gen_ = Generator::create(program, overrides, cfg, &why);
  if (s->gen_) return s;

  // No decode step: the whole forward graph, B=1, at the run's T, dropout off.
  ConstOverrides o = overrides;
  o["B"] = "1";
  o["T"] = std::to_string(runT);
  Expected<Graph> g = buildGraph(std::move(program), o, "inference");
  if (!g) {
    *err = fmt::format("building the sampling step: no decode step ({}) and no inference graph "
                       "({})",
                       why, g.error().render());
    return nullptr;
  }
  s->forward_ = makeEngine(engine, std::move(*g), threads, {}, err);
  if (!s->forward_) return nullptr;
  std::string first = why.substr(0, why.find('\n'));
  if (first.rfind("error: ", 0) == 0) first.erase(0, 7); // a Diag without a location
  s->note_ = fmt::format("no KV-cache decode step for this model ({}): the sample recomputes the "
                         "whole forward pass over the last {} tokens for every token",
                         first, runT);
  return s;
}

int64_t RunSampler::context() const {
  if (gen_) return gen_->context();
  return forward_->graph().type(forward_->graph().find("tokens")).shape[1];
}

std::string RunSampler::copyParamsFrom(const StepEngine& trained) {
  if (gen_) return gen_->copyParamsFrom(trained);
  return trained.copyParamsTo(*forward_);
}

std::string RunSampler::sample(const std::vector<int32_t>& prompt, int64_t count,
                               const SamplingOptions& options, int64_t vocab,
                               std::vector<int32_t>* out) {
  out->clear();
  if (prompt.empty()) return "sampling needs at least one token of prompt";
  if (!gen_) {
    std::vector<int32_t> context = prompt;
    if (std::string e = sampleTokens(*forward_, context, int(count), options, vocab); !e.empty())
      return e;
    out->assign(context.begin() + int64_t(prompt.size()), context.end());
    return "";
  }
  const int64_t ctx = gen_->context();
  std::vector<int32_t> text = prompt; // prompt and every token so far
  for (uint64_t chunk = 0; int64_t(out->size()) < count; ++chunk) {
    // The first chunk is exactly `gptc run --generate`; later ones restart from the newest half
    // of the context (a prompt longer than the context is cut the same way).
    int64_t keep = int64_t(text.size());
    if (chunk > 0 || keep >= ctx) keep = std::min<int64_t>(keep, std::max<int64_t>(1, ctx / 2));
    GenerateRequest req;
    req.prompts = {std::vector<int32_t>(text.end() - keep, text.end())};
    req.maxNew = std::min(count - int64_t(out->size()), ctx - keep);
    req.sampling = options;
    req.sampling.seed = options.seed + chunk * 0x9e3779b97f4a7c15ULL; // chunk 0: the seed itself
    req.vocab = vocab;
    if (req.maxNew < 1)
      return fmt::format("a context of {} positions leaves no room to sample", ctx);
    std::vector<std::vector<int32_t>> rows;
    if (std::string e = generate(*gen_, req, {}, &rows); !e.empty()) return e;
    out->insert(out->end(), rows[0].begin(), rows[0].end());
    text.insert(text.end(), rows[0].begin(), rows[0].end());
  }
  return "";
}

} // namespace gptc
