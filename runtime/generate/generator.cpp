// runtime/generate/generator.cpp — the decode and prefill steps and the lockstep generation loop (see
// generator.h).
#include "runtime/generate/generator.h"

#include "driver/driver.h"
#include "passes/decode_step.h"
#include "passes/pipeline.h"
#include "runtime/formats/quantize.h"

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <limits>

namespace gptc {
namespace {

/// Runs the named passes over `program` with `overrides` and pass `options`, through the driver.
Expected<Graph> runPasses(std::shared_ptr<ast::Program> program, const ConstOverrides& overrides,
                          const std::vector<std::string>& names,
                          std::map<std::string, std::string> options = {}) {
  CompileRequest request;
  request.model = ModelSource::parsed(std::move(program));
  request.overrides = overrides;
  request.passes = names;
  request.passOptions = std::move(options);
  Expected<CompiledProgram> compiled = compile(std::move(request));
  if (!compiled) return compiled.error();
  return std::move(compiled->graph);
}

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

std::unique_ptr<Generator> Generator::create(std::shared_ptr<ast::Program> program,
                                             ConstOverrides overrides,
                                             const GeneratorConfig& config, std::string* err) {
  std::unique_ptr<Generator> gen(new Generator());
  gen->program_ = std::move(program);
  gen->overrides_ = std::move(overrides);
  gen->config_ = config;
  if (config.batch < 1) {
    *err = "the batch must be at least 1";
    return nullptr;
  }
  // The model as written: the decoder's trained length bounds the context of a model without a
  // position table (sinusoidal or rotary positions).
  Expected<Graph> full = runPasses(gen->program_, gen->overrides_, {"expand"});
  if (!full) { // the model's own T may not fit (T > maxT after --set maxT=...): one position
    ConstOverrides one = gen->overrides_;
    one["T"] = "1";
    full = runPasses(gen->program_, one, {"expand"});
  }
  if (!full) {
    *err = full.error().render();
    return nullptr;
  }
  int tok = full->find(config.tokenInput);
  if (tok < 0 || full->values[tok].kind != ValueKind::Input || full->type(tok).rank() != 2 ||
      full->type(tok).dtype != DType::i32) {
    *err =
        fmt::format("the model has no `input {} : i32[B, T]` to generate with", config.tokenInput);
    return nullptr;
  }
  for (const Value& v : full->values)
    if (v.kind == ValueKind::Param) gen->f32Params_.push_back(v);
  // A requested context (the CLI sizes the cache to the request) only ever shrinks it.
  if (std::any_of(full->nodes.begin(), full->nodes.end(), [](const Node& n) {
        return n.kind == OpKind::Sinusoidal || n.kind == OpKind::Rope;
      })) {
    int64_t trained = full->type(tok).shape[1];
    int64_t& c = gen->config_.context;
    c = c == 0 ? trained : std::min(c, trained);
  }

  auto t0 = std::chrono::steady_clock::now();
  Expected<std::unique_ptr<StepEngine>> decode = gen->buildStep(1, {});
  if (!decode) {
    *err = decode.error().render();
    return nullptr;
  }
  gen->decode_ = std::move(*decode);
  gen->compileMs_ += msSince(t0);
  const Graph& d = gen->decode_->graph();
  for (const Update& u : d.updates)
    gen->context_ = d.type(u.state).shape[d.type(u.state).rank() - 2];
  gen->width_ = d.type(d.find("logits")).shape.back();

  if (!config.cut.empty()) {
    ConstOverrides o = gen->overrides_;
    o["B"] = std::to_string(config.batch);
    Expected<Graph> enc = runPasses(gen->program_, o, {"expand", "infer-shapes", "lower-einsum"});
    if (enc) enc = buildInferenceGraph(*enc, config.cut);
    if (!enc) {
      *err = enc.error().render();
      return nullptr;
    }
    gen->encoder_ = makeEngine(config.engine, std::move(*enc), config.threads, {}, err);
    if (!gen->encoder_) return nullptr;
  }
  return gen;
}

Expected<std::unique_ptr<StepEngine>> Generator::buildStep(int64_t t,
                                                           const std::vector<std::string>&) {
  ConstOverrides o = overrides_;
  o["B"] = std::to_string(config_.batch);
  o["T"] = std::to_string(t);
  std::map<std::string, std::string> options;
  if (config_.context) options["decode.context"] = std::to_string(config_.context);
  std::string cut;
  for (const std::string& c : config_.cut)
    cut += (cut.empty() ? "" : ",") + c;
  if (!cut.empty()) options["decode.cut"] = cut;
  options["quantize.weights"] = config_.weights;
  Expected<Graph> g = runPasses(program_, o,
                                {"expand", "infer-shapes", "lower-einsum", "decode-step", "simplify",
                                 "cse", "dce", "quantize"},
                                std::move(options));
  if (!g) return g.error();
  std::string err;
  std::unique_ptr<StepEngine> e =
      makeEngine(config_.engine, std::move(*g), config_.threads, {}, &err);
  if (!e) return Diag{{}, "compiling the decode step: " + err};
  return e;
}

std::string Generator::setParams(const ParamMap& params) {
  const Graph& d = decode_->graph();
  const bool quantized = hasQuantizedParams(d);
  ParamMap q;
  if (quantized)
    if (std::string e = quantizeParams(d, params, &q); !e.empty()) return e;
  for (const auto& [name, t] : quantized ? q : params) {
    int id = d.find(name);
    if (id < 0 || d.values[id].kind != ValueKind::Param) continue;
    if (std::string e = decode_->bind(name, t); !e.empty()) return e;
  }
  if (encoder_ && quantized) { // the encoder keeps f32 weights: from the f32 params themselves
    for (const auto& [name, t] : params) {
      int id = encoder_->graph().find(name);
      if (id < 0 || encoder_->graph().values[id].kind != ValueKind::Param) continue;
      if (std::string e = encoder_->bind(name, t); !e.empty()) return e;
    }
  } else if (encoder_) {
    if (std::string e = decode_->copyParamsTo(*encoder_); !e.empty()) return e;
  }
  prefills_.clear(); // rebuilt with the new params on first use
  return "";
}

std::string Generator::copyParamsFrom(const StepEngine& from) {
  if (std::string e = from.copyParamsTo(*decode_); !e.empty()) return e;
  if (encoder_)
    if (std::string e = decode_->copyParamsTo(*encoder_); !e.empty()) return e;
  prefills_.clear();
  return "";
}

std::string Generator::initParams(uint64_t seed) {
  if (hasQuantizedParams(decode_->graph())) { // quantized from the f32 values a seed gives
    ParamMap f32;
    for (const Value& v : f32Params_)
      f32.emplace(v.name, initValue(v, seed));
    return setParams(f32);
  }
  if (std::string e = decode_->initParams(seed); !e.empty()) return e;
  if (encoder_)
    if (std::string e = decode_->copyParamsTo(*encoder_); !e.empty()) return e;
  prefills_.clear();
  return "";
}

std::string Generator::bindFixed(const std::string& name, const Tensor& t) {
  fixed_[name] = t;
  for (auto& [len, e] : prefills_)
    if (std::string err = e->bind(name, t); !err.empty()) return err;
  return decode_->bind(name, t);
}

std::string Generator::encode(const Tensor& src) {
  if (!encoder_) return "this model has no encoder (no cut values)";
  if (std::string e = encoder_->bind("src", src); !e.empty()) return e;
  if (std::string e = encoder_->run(); !e.empty()) return e;
  for (const std::string& c : config_.cut) {
    Tensor t;
    if (std::string e = encoder_->read(c, &t); !e.empty()) return e;
    if (std::string e = bindFixed(c, t); !e.empty()) return e;
  }
  if (decode_->graph().find("src") >= 0) return bindFixed("src", src);
  return "";
}

std::string Generator::runAndRead(StepEngine& e, std::vector<float>* logits) {
  if (std::string err = e.run(); !err.empty()) return err;
  Tensor out;
  if (std::string err = e.read("logits", &out); !err.empty()) return err;
  *logits = std::move(out.f); // (B, 1, width)
  return "";
}

std::string Generator::step(const std::vector<int32_t>& tokens, int64_t pos,
                            std::vector<float>* logits) {
  if (int64_t(tokens.size()) != config_.batch)
    return fmt::format("a decode step takes {} tokens, got {}", config_.batch, tokens.size());
  if (pos < 0 || pos >= context_)
    return fmt::format("position {} is outside the context of {}", pos, context_);
  Tensor in(TensorType{DType::i32, {config_.batch, 1}});
  in.i = tokens;
  if (std::string e = decode_->bind(config_.tokenInput, in); !e.empty()) return e;
  if (std::string e = decode_->bind("pos", Tensor::scalarI32(int32_t(pos))); !e.empty()) return e;
  return runAndRead(*decode_, logits);
}

std::string Generator::prefill(const std::vector<int32_t>& tokens, int64_t t,
                               std::vector<float>* logits) {
  if (t < 1 || int64_t(tokens.size()) != config_.batch * t)
    return fmt::format("a prefill of {} positions takes {} tokens, got {}", t, config_.batch * t,
                       tokens.size());
  if (t > context_) return fmt::format("{} prompt tokens exceed the context of {}", t, context_);
  if (t == 1 || !config_.prefill) { // one decode step per position
    std::vector<int32_t> col(static_cast<size_t>(config_.batch));
    for (int64_t p = 0; p < t; ++p) {
      for (int64_t r = 0; r < config_.batch; ++r)
        col[r] = tokens[r * t + p];
      if (std::string e = step(col, p, logits); !e.empty()) return e;
    }
    return "";
  }
  auto it = prefills_.find(t);
  if (it == prefills_.end()) {
    auto t0 = std::chrono::steady_clock::now();
    Expected<std::unique_ptr<StepEngine>> e = buildStep(t, {});
    if (!e) return e.error().render();
    if (std::string err = decode_->copyParamsTo(**e); !err.empty()) return err;
    for (const auto& [name, v] : fixed_)
      if (std::string err = (*e)->bind(name, v); !err.empty()) return err;
    // Setting up a prefill step (compiling it, copying the weights into it) is not generating:
    // counted with the compile time, so tokens/s after a prompt measures the decode.
    compileMs_ += msSince(t0);
    it = prefills_.emplace(t, std::move(*e)).first;
  }
  StepEngine& pre = *it->second;
  Tensor in(TensorType{DType::i32, {config_.batch, t}});
  in.i = tokens;
  if (std::string e = pre.bind(config_.tokenInput, in); !e.empty()) return e;
  if (std::string e = pre.bind("pos", Tensor::scalarI32(0)); !e.empty()) return e;
  if (std::string e = runAndRead(pre, logits); !e.empty()) return e;
  // The decode step continues from the caches the prefill wrote.
  for (const Update& u : pre.graph().updates) {
    const std::string& name = pre.graph().value(u.state).name;
    Tensor c;
    if (std::string e = pre.read(name, &c); !e.empty()) return e;
    if (std::string e = decode_->bind(name, c); !e.empty()) return e;
  }
  return "";
}

std::string generate(Generator& gen, const GenerateRequest& req,
                     const std::function<void(int64_t, int32_t)>& onToken,
                     std::vector<std::vector<int32_t>>* out) {
  const int64_t B = gen.batch(), n = int64_t(req.prompts.size());
  if (n < 1 || n > B) return fmt::format("{} prompts for a decode step of batch {}", n, B);
  std::vector<std::vector<int32_t>> rows(req.prompts);
  rows.resize(size_t(B), req.prompts.back());
  size_t minLen = rows[0].size(), maxLen = 0;
  for (const auto& r : rows) {
    if (r.empty()) return "a prompt must have at least one token";
    minLen = std::min(minLen, r.size());
    maxLen = std::max(maxLen, r.size());
  }
  if (int64_t(maxLen) > gen.context())
    return fmt::format("the prompt has {} tokens but the model's context is {} positions (no "
                       "sliding window: shorten the prompt)",
                       maxLen, gen.context());
  if (int64_t(maxLen) + req.maxNew > gen.context())
    return fmt::format("the prompt ({} tokens) and -n {} need {} positions but the model's context "
                       "is {} (no sliding window: use -n {} or less)",
                       maxLen, req.maxNew, maxLen + req.maxNew, gen.context(),
                       gen.context() - int64_t(maxLen));
  out->assign(size_t(n), {});
  if (req.maxNew == 0) return "";

  const int64_t W = gen.logitsWidth();
  const int64_t V = req.vocab > 0 ? std::min(req.vocab, W) : W;
  std::vector<SampleRng> rngs;
  for (int64_t r = 0; r < B; ++r)
    rngs.emplace_back(req.sampling.seed + uint64_t(r)); // row r: what --seed S+r gives alone
  std::vector<float> logits, row(static_cast<size_t>(V));

  std::vector<int32_t> first;
  for (const auto& r : rows)
    first.insert(first.end(), r.begin(), r.begin() + int64_t(minLen));
  if (std::string e = gen.prefill(first, int64_t(minLen), &logits); !e.empty()) return e;

  std::vector<int64_t> made(static_cast<size_t>(B), 0);
  std::vector<bool> done(static_cast<size_t>(B), false);
  std::vector<int32_t> cur(static_cast<size_t>(B));
  for (int64_t pos = int64_t(minLen);; ++pos) {
    bool allDone = true;
    for (int64_t r = 0; r < B; ++r) {
      if (pos < int64_t(rows[r].size())) { // still reading its prompt
        cur[r] = rows[r][pos];
        allDone = false;
        continue;
      }
      if (done[r]) continue; // cur[r] keeps its last token
      std::copy(logits.begin() + r * W, logits.begin() + r * W + V, row.begin());
      for (int32_t b : req.banned)
        if (b >= 0 && b < V) row[b] = -std::numeric_limits<float>::infinity();
      int32_t id = pickToken(row, req.sampling, rngs[r]);
      cur[r] = id;
      if (r < n) {
        (*out)[r].push_back(id);
        if (onToken) onToken(r, id);
      }
      done[r] = ++made[r] == req.maxNew || id == req.eos;
      allDone = allDone && done[r];
    }
    if (allDone) break;
    if (std::string e = gen.step(cur, pos, &logits); !e.empty()) return e;
  }
  return "";
}

} // namespace gptc
