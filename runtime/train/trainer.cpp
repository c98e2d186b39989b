// runtime/train/trainer.cpp — the training loop (see trainer.h).
#include "runtime/train/trainer.h"

#include "runtime/exec/mpi_comm.h"
#include "runtime/formats/llmc_checkpoint.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fmt/format.h>
#include <functional>
#include <map>

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

/// ZeRO-1 (passes/optimizer.h): a state m.<p> / v.<p> that holds this rank's slice of S elements
/// of param p's n. The param's type then, else nullptr.
const TensorType* shardedOf(const Graph& g, const Value& state) {
  if (state.kind != ValueKind::State || state.name.size() < 3 || state.name[1] != '.' ||
      (state.name[0] != 'm' && state.name[0] != 'v'))
    return nullptr;
  int p = g.find(state.name.substr(2));
  if (p < 0 || g.values[p].kind != ValueKind::Param) return nullptr;
  const TensorType& pt = g.type(p);
  return state.type.shape == pt.shape ? nullptr : &pt;
}

/// Whether `name` is an input of type `type`.
bool hasInput(const Graph& g, const char* name, const TensorType& type) {
  int v = g.find(name);
  return v >= 0 && g.values[v].kind == ValueKind::Input && g.type(v) == type;
}

/// A rank's rows of a global source (see rankRows in trainer.h).
class RankRows : public BatchSource {
public:
  RankRows(std::unique_ptr<BatchSource> global, int rank, int ranks)
      : global_(std::move(global)), rank_(rank), ranks_(ranks) {}
  std::string check(const Graph& g) const override {
    for (auto& [name, t] : batch(0)) {
      int v = g.find(name);
      if (v < 0 || g.values[v].kind != ValueKind::Input || g.type(v) != t.type)
        return fmt::format("rank {} of {}: the graph has no input `{} : {}` (its share of the "
                           "global batch)",
                           rank_, ranks_, name, typeToString(t.type));
    }
    return "";
  }
  NamedInputs batch(uint64_t index) const override {
    NamedInputs out = global_->batch(index);
    for (auto& [name, t] : out) {
      const int64_t rows = t.type.shape[0] / ranks_, row = t.numel() / t.type.shape[0];
      Tensor mine(TensorType{t.type.dtype, t.type.shape});
      mine.type.shape[0] = rows;
      const int64_t first = int64_t(rank_) * rows * row, n = rows * row;
      if (t.type.dtype == DType::i32)
        mine.i.assign(t.i.begin() + first, t.i.begin() + first + n);
      else
        mine.f.assign(t.f.begin() + first, t.f.begin() + first + n);
      t = std::move(mine);
    }
    return out;
  }
  int64_t tokensPerBatch() const override { return global_->tokensPerBatch() / ranks_; }

private:
  std::unique_ptr<BatchSource> global_;
  int rank_, ranks_;
};

} // namespace

std::string firstNonFinite(const std::vector<NamedTensor>& tensors) {
  for (const NamedTensor& t : tensors)
    for (size_t i = 0; i < t.data.size(); ++i)
      if (!std::isfinite(t.data[i])) return fmt::format("`{}`[{}] is {}", t.name, i, t.data[i]);
  return "";
}

std::unique_ptr<BatchSource> rankRows(std::unique_ptr<BatchSource> global, int rank, int ranks) {
  if (ranks <= 1 || !global) return global;
  return std::make_unique<RankRows>(std::move(global), rank, ranks);
}

int32_t dropoutSeed(uint64_t seed, int64_t step) {
  return int32_t(uint32_t(mix64(seed ^ mix64(uint64_t(step) + 0x5eed))));
}

Trainer::Trainer(StepEngine& train, StepEngine* eval, std::unique_ptr<BatchSource> trainData,
                 std::unique_ptr<BatchSource> valData, TrainOptions options)
    : train_(train), eval_(eval), trainData_(std::move(trainData)), valData_(std::move(valData)),
      options_(options) {
  hasSeed_ = hasInput(train_.graph(), "seed", TensorType{DType::i32, {}});
  hasRow0_ = hasInput(train_.graph(), "row0", TensorType{DType::i32, {}});
  hasRank_ = hasInput(train_.graph(), "rank", TensorType{DType::i32, {}});
  if (NamedInputs b = trainData_->batch(0); !b.empty()) localRows_ = b[0].second.type.shape[0];
}

std::unique_ptr<Trainer> Trainer::create(StepEngine& train, StepEngine* eval, TokenSplit data,
                                         TrainOptions options, std::string* err) {
  int B = 0, T = 0;
  if (std::string e = lmShape(train.graph(), "training", &B, &T); !e.empty())
    return *err = e, nullptr;
  // The global batch of ranks·B rows; create() below keeps this rank's B (rankRows).
  std::unique_ptr<BatchSource> trainData =
      makeLmSource(std::move(data.train), B * std::max(1, options.ranks), T, options.seed, err);
  if (!trainData) return *err = "training data: " + *err, nullptr;
  std::unique_ptr<BatchSource> valData;
  if (eval) {
    if (std::string e = lmShape(eval->graph(), "evaluation", &B, &T); !e.empty())
      return *err = e, nullptr;
    // The validation windows have their own stream so that changing --val-every or the number of
    // validation batches never changes which training batches a run sees.
    valData = makeLmSource(std::move(data.val), B, T, options.seed ^ 0x76616c6964ULL, err);
    if (!valData) return *err = "validation data: " + *err, nullptr;
  }
  return create(train, eval, std::move(trainData), std::move(valData), options, err);
}

std::unique_ptr<Trainer> Trainer::create(StepEngine& train, StepEngine* eval,
                                         std::unique_ptr<BatchSource> trainData,
                                         std::unique_ptr<BatchSource> valData, TrainOptions options,
                                         std::string* err) {
  const Graph& g = train.graph();
  if (!trainData) return *err = "no training data", nullptr;
  if (options.ranks < 1 || options.rank < 0 || options.rank >= options.ranks)
    return *err = fmt::format("rank {} of {} ranks", options.rank, options.ranks), nullptr;
  trainData = rankRows(std::move(trainData), options.rank, options.ranks);
  if (eval && !valData) return *err = "an evaluation graph needs validation data", nullptr;
  if (std::string e = trainData->check(g); !e.empty()) return *err = "training: " + e, nullptr;
  if (eval)
    if (std::string e = valData->check(eval->graph()); !e.empty())
      return *err = "evaluation: " + e, nullptr;
  if (!hasInput(g, "lr", TensorType{DType::f32, {}}) ||
      !hasInput(g, "step", TensorType{DType::i32, {}}) || g.find("grad_norm") < 0) {
    *err = "the training graph has no `lr`/`step` inputs or `grad_norm` output: compile it with "
           "the train pipeline";
    return nullptr;
  }
  if (g.find("loss") < 0) return *err = "the training graph has no `loss` output", nullptr;
  if (eval && eval->graph().find("loss") < 0)
    return *err = "the evaluation graph has no `loss` output", nullptr;
  if (options.steps < 1) return *err = "a run needs at least 1 step", nullptr;
  if (options.valBatches < 1) return *err = "validation needs at least 1 batch", nullptr;
  options.schedule.totalSteps = options.steps;
  if (std::string e = options.schedule.check(); !e.empty()) return *err = e, nullptr;
  if (!eval) valData.reset();
  return std::unique_ptr<Trainer>(
      new Trainer(train, eval, std::move(trainData), std::move(valData), options));
}

std::string Trainer::initParams() {
  return train_.initParams(options_.seed);
}

std::string Trainer::bindInputs(StepEngine& engine, NamedInputs inputs) {
  for (auto& [name, t] : inputs)
    if (std::string e = engine.bind(name, t); !e.empty()) return e;
  return "";
}

std::string Trainer::validate(float* loss) {
  if (!eval_ || !valData_) return "no evaluation graph: validation is off";
  if (std::string e = train_.copyParamsTo(*eval_); !e.empty()) return e;
  // Inference graphs may still declare the dropout seed (with drop = 0 it changes nothing).
  if (hasInput(eval_->graph(), "seed", TensorType{DType::i32, {}}))
    if (std::string e = eval_->bind("seed", Tensor::scalarI32(0)); !e.empty()) return e;
  double sum = 0;
  for (int k = 0; k < options_.valBatches; ++k) {
    if (std::string e = bindInputs(*eval_, valData_->batch(uint64_t(k))); !e.empty()) return e;
    if (std::string e = eval_->run(); !e.empty()) return e;
    sum += eval_->scalar("loss");
  }
  *loss = float(sum / options_.valBatches);
  // A run resumed from its final checkpoint validates its last step again: the same point, once.
  if (!valCurve_.empty() && valCurve_.back().step == done_)
    valCurve_.back().loss = *loss;
  else
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
  const double lr = options_.schedule.lrAt(s);
  if (std::string e = bindStepInputs(train_, s); !e.empty()) return e;
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
  // A finite loss with a non-finite gradient: this step's update has already spoilt the params.
  if (!std::isfinite(report->gradNorm))
    return fmt::format("the gradient norm is {} at step {}: training diverged (try a lower --lr)",
                       report->gradNorm, done_);
  return "";
}

std::string Trainer::bindStepInputs(StepEngine& engine, int64_t s) const {
  if (std::string e = bindInputs(engine, trainData_->batch(uint64_t(s))); !e.empty()) return e;
  const double lr = options_.schedule.lrAt(s);
  if (std::string e = engine.bind("lr", Tensor::scalarF32(float(lr))); !e.empty()) return e;
  if (std::string e = engine.bind("step", Tensor::scalarI32(int32_t(s + 1))); !e.empty()) return e;
  if (hasSeed_)
    if (std::string e = engine.bind("seed", Tensor::scalarI32(dropoutSeed(options_.seed, s)));
        !e.empty())
      return e;
  if (hasRank_) // ZeRO-1: which slice of the moments this rank updates
    if (std::string e = engine.bind("rank", Tensor::scalarI32(options_.rank)); !e.empty()) return e;
  if (hasRow0_) // this rank's first row of the global batch (dropout masks by global row)
    if (std::string e = engine.bind("row0", Tensor::scalarI32(int32_t(options_.rank * localRows_)));
        !e.empty())
      return e;
  return "";
}

std::string Trainer::replay(StepEngine& engine, const std::vector<NamedTensor>* state, int64_t from,
                            int64_t to, const std::function<bool()>& stop) const {
  if (state) {
    std::map<std::string_view, const NamedTensor*> byName;
    for (const NamedTensor& t : *state)
      byName[t.name] = &t;
    for (const Value& v : engine.graph().values) {
      if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
      auto it = byName.find(v.name);
      if (it == byName.end() || it->second->shape != v.type.shape)
        return fmt::format("replay: no tensor `{}` of the model's shape", v.name);
      Tensor t(v.type);
      t.f = it->second->data;
      if (std::string e = engine.bind(v.name, t); !e.empty()) return e;
    }
  } else if (std::string e = engine.initParams(options_.seed); !e.empty()) {
    return e;
  }
  for (int64_t s = from; s < to && !stop(); ++s) {
    if (std::string e = bindStepInputs(engine, s); !e.empty()) return e;
    if (std::string e = engine.run(); !e.empty()) return e;
  }
  return "";
}

std::string Trainer::readTensors(ValueKind kind, std::vector<NamedTensor>* out) const {
  out->clear();
  for (const Value& v : train_.graph().values) {
    if (v.kind != kind) continue;
    Tensor t;
    if (std::string e = train_.read(v.name, &t); !e.empty()) return e;
    if (t.type.dtype != DType::f32)
      return fmt::format("`{}` is not f32: checkpoints hold f32 tensors only", v.name);
    if (const TensorType* whole = shardedOf(train_.graph(), v)) {
      // ZeRO-1: every rank's slice, gathered (a collective: every rank reads its tensors)
      std::vector<float> all(size_t(whole->numel()));
      mpi::allGather(t.f.data(), all.data(), whole->numel(), options_.ranks);
      out->push_back(NamedTensor{v.name, whole->shape, std::move(all)});
      continue;
    }
    out->push_back(NamedTensor{v.name, t.type.shape, std::move(t.f)});
  }
  return "";
}

std::string Trainer::saveCheckpoint(const std::string& path, const std::string& metadata) const {
  GptcCheckpoint ckpt;
  ckpt.metadata = metadata;
  std::vector<NamedTensor> state;
  if (std::string e = readTensors(ValueKind::Param, &ckpt.tensors); !e.empty()) return e;
  if (std::string e = readTensors(ValueKind::State, &state); !e.empty()) return e;
  for (NamedTensor& t : state)
    ckpt.tensors.push_back(std::move(t));
  IoStatus st = writeGptcCheckpoint(path, ckpt);
  return st ? "" : st.error();
}

std::string Trainer::restore(const std::vector<NamedTensor>& tensors, int64_t stepsDone,
                             std::vector<LossPoint> trainCurve, std::vector<LossPoint> valCurve) {
  if (stepsDone < 0 || stepsDone > options_.steps)
    return fmt::format("the checkpoint is at step {} but the run has {} steps", stepsDone,
                       options_.steps);
  std::map<std::string_view, const NamedTensor*> byName;
  for (const NamedTensor& t : tensors)
    byName[t.name] = &t;
  // Check everything before binding anything, so a bad checkpoint changes nothing.
  for (const Value& v : train_.graph().values) {
    if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
    auto it = byName.find(v.name);
    if (it == byName.end()) return fmt::format("the checkpoint has no tensor `{}`", v.name);
    const TensorType* whole = shardedOf(train_.graph(), v);
    if (v.type.dtype != DType::f32 || it->second->shape != (whole ? whole : &v.type)->shape)
      return fmt::format("the checkpoint's `{}` does not have the model's shape", v.name);
  }
  for (const Value& v : train_.graph().values) {
    if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
    Tensor t(v.type);
    t.f = byName[v.name]->data;
    if (shardedOf(train_.graph(), v)) { // ZeRO-1: this rank's slice, zeros past the end
      const int64_t S = v.type.numel(), first = int64_t(options_.rank) * S;
      std::vector<float> mine(size_t(S), 0.0f);
      for (int64_t k = 0; k < S && first + k < int64_t(t.f.size()); ++k)
        mine[size_t(k)] = t.f[size_t(first + k)];
      t.f = std::move(mine);
    }
    if (std::string e = train_.bind(v.name, t); !e.empty()) return e;
  }
  done_ = stepsDone;
  trainCurve_ = std::move(trainCurve);
  valCurve_ = std::move(valCurve);
  return "";
}

} // namespace gptc
