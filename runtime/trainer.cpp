// runtime/trainer.cpp — the training loop (see trainer.h).
#include "runtime/trainer.h"

#include "runtime/llmc_checkpoint.h"

#include <chrono>
#include <cmath>
#include <fmt/format.h>

namespace gptc {

namespace {

uint64_t mix64(uint64_t z) { // SplitMix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// The tokens shape [B, T] of an LM graph, or an error naming what is missing.
std::string lmShape(const Graph& g, const char* which, int* B, int* T) {
  int tokens = g.find("tokens"), targets = g.find("targets");
  if (tokens < 0 || targets < 0 || g.values[tokens].kind != ValueKind::Input ||
      g.values[targets].kind != ValueKind::Input)
    return fmt::format("the {} graph needs inputs `tokens` and `targets`", which);
  const TensorType& t = g.type(tokens);
  if (t.dtype != DType::i32 || t.rank() != 2 || !(g.type(targets) == t))
    return fmt::format("the {} graph's tokens and targets must both be i32[B, T]", which);
  if (g.find("loss") < 0) return fmt::format("the {} graph has no `loss` output", which);
  *B = int(t.shape[0]);
  *T = int(t.shape[1]);
  return "";
}

/// Whether `name` is an input of type `type`.
bool hasInput(const Graph& g, const char* name, const TensorType& type) {
  int v = g.find(name);
  return v >= 0 && g.values[v].kind == ValueKind::Input && g.type(v) == type;
}

} // namespace

int32_t dropoutSeed(uint64_t seed, int64_t step) {
  return int32_t(uint32_t(mix64(seed ^ mix64(uint64_t(step) + 0x5eed))));
}

Trainer::Trainer(StepEngine& train, StepEngine* eval, RandomBatchSampler trainData,
                 std::optional<RandomBatchSampler> valData, TrainOptions options, int B, int T)
    : train_(train), eval_(eval), trainData_(std::move(trainData)), valData_(std::move(valData)),
      options_(options), B_(B), T_(T) {
  hasSeed_ = hasInput(train_.graph(), "seed", TensorType{DType::i32, {}});
}

std::unique_ptr<Trainer> Trainer::create(StepEngine& train, StepEngine* eval, TokenSplit data,
                                         TrainOptions options, std::string* err) {
  const Graph& g = train.graph();
  int B = 0, T = 0;
  if (std::string e = lmShape(g, "training", &B, &T); !e.empty()) return *err = e, nullptr;
  if (!hasInput(g, "lr", TensorType{DType::f32, {}}) ||
      !hasInput(g, "step", TensorType{DType::i32, {}}) || g.find("grad_norm") < 0) {
    *err = "the training graph has no `lr`/`step` inputs or `grad_norm` output: compile it with "
           "the train pipeline";
    return nullptr;
  }
  if (options.steps < 1) return *err = "a run needs at least 1 step", nullptr;
  if (options.valBatches < 1) return *err = "validation needs at least 1 batch", nullptr;
  options.schedule.totalSteps = options.steps;
  if (std::string e = options.schedule.check(); !e.empty()) return *err = e, nullptr;

  IoResult<RandomBatchSampler> trainData =
      RandomBatchSampler::create(std::move(data.train), B, T, options.seed);
  if (!trainData) return *err = "training data: " + trainData.error(), nullptr;
  std::optional<RandomBatchSampler> valData;
  if (eval) {
    int eB = 0, eT = 0;
    if (std::string e = lmShape(eval->graph(), "evaluation", &eB, &eT); !e.empty())
      return *err = e, nullptr;
    // The validation windows have their own stream so that changing --val-every or the number of
    // validation batches never changes which training batches a run sees.
    IoResult<RandomBatchSampler> v =
        RandomBatchSampler::create(std::move(data.val), eB, eT, options.seed ^ 0x76616c6964ULL);
    if (!v) return *err = "validation data: " + v.error(), nullptr;
    valData = std::move(*v);
  }
  return std::unique_ptr<Trainer>(
      new Trainer(train, eval, std::move(*trainData), std::move(valData), options, B, T));
}

std::string Trainer::initParams() {
  return train_.initParams(options_.seed);
}

std::string Trainer::bindBatch(StepEngine& engine, const Batch& batch) {
  const Graph& g = engine.graph();
  Tensor x(g.type(g.find("tokens"))), y(g.type(g.find("targets"))); // (B,T) each
  x.i = batch.inputs;
  y.i = batch.targets;
  if (std::string e = engine.bind("tokens", x); !e.empty()) return e;
  return engine.bind("targets", y);
}

std::string Trainer::validate(float* loss) {
  if (!eval_ || !valData_) return "no evaluation graph: validation is off";
  if (std::string e = train_.copyParamsTo(*eval_); !e.empty()) return e;
  // Inference graphs may still declare the dropout seed (with drop = 0 it changes nothing).
  if (hasInput(eval_->graph(), "seed", TensorType{DType::i32, {}}))
    if (std::string e = eval_->bind("seed", Tensor::scalarI32(0)); !e.empty()) return e;
  double sum = 0;
  for (int k = 0; k < options_.valBatches; ++k) {
    if (std::string e = bindBatch(*eval_, valData_->sample(uint64_t(k))); !e.empty()) return e;
    if (std::string e = eval_->run(); !e.empty()) return e;
    sum += eval_->scalar("loss");
  }
  *loss = float(sum / options_.valBatches);
  valCurve_.push_back({done_, *loss});
  return "";
}

std::string Trainer::step(StepReport* report) {
  if (finished()) return "the run is finished";
  *report = StepReport{};
  if (eval_ && options_.valEvery > 0 && done_ % options_.valEvery == 0) {
    float v = 0;
    if (std::string e = validate(&v); !e.empty()) return e;
    report->valLoss = v;
  }
  const int64_t s = done_; // 0-based index of this step
  double lr = options_.schedule.lrAt(s);
  if (std::string e = bindBatch(train_, trainData_.sample(uint64_t(s))); !e.empty()) return e;
  if (std::string e = train_.bind("lr", Tensor::scalarF32(float(lr))); !e.empty()) return e;
  if (std::string e = train_.bind("step", Tensor::scalarI32(int32_t(s + 1))); !e.empty()) return e;
  if (hasSeed_)
    if (std::string e = train_.bind("seed", Tensor::scalarI32(dropoutSeed(options_.seed, s)));
        !e.empty())
      return e;
  auto start = std::chrono::steady_clock::now();
  if (std::string e = train_.run(); !e.empty()) return e;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++done_;

  report->step = done_;
  report->totalSteps = options_.steps;
  report->loss = train_.scalar("loss");
  report->gradNorm = train_.scalar("grad_norm");
  report->lr = lr;
  report->milliseconds = seconds * 1e3;
  report->tokensPerSecond = seconds > 0 ? double(tokensPerStep()) / seconds : 0;
  trainCurve_.push_back({s, report->loss});
  if (!std::isfinite(report->loss))
    return fmt::format("the loss is {} at step {}: training diverged (try a lower --lr)",
                       report->loss, done_);
  return "";
}

std::string Trainer::saveCheckpoint(const std::string& path, const std::string& metadata) const {
  GptcCheckpoint ckpt;
  ckpt.metadata = metadata;
  for (const Value& v : train_.graph().values) {
    if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
    Tensor t;
    if (std::string e = train_.read(v.name, &t); !e.empty()) return e;
    if (t.type.dtype != DType::f32) continue; // the format holds f32 tensors only
    ckpt.tensors.push_back(NamedTensor{v.name, t.type.shape, std::move(t.f)});
  }
  IoStatus st = writeGptcCheckpoint(path, ckpt);
  return st ? "" : st.error();
}

} // namespace gptc
