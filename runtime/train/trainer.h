// runtime/train/trainer.h — the training loop: a compiled training step (forward, backward and
// AdamW as one graph: passes/autodiff.h, passes/optimizer.h) fed with random windows of training
// tokens, the learning rate from the schedule and a fresh dropout seed each step, and a second,
// inference graph (dropout off) that shares the trained parameters for the validation loss and for
// sampling.
//
// One step of the loop, all on runtime inputs so nothing recompiles:
//   inputs <- BatchSource::batch(step)   (tokens, targets (B,T); or src, tgt_in, tgt_out)
//   lr   <- LrSchedule::lrAt(step)        step <- step + 1 (AdamW's bias correction counts from 1)
//   seed <- mix(seed, step)               (dropout masks differ per step, reproducibly)
//   run(); loss, grad_norm <- outputs
// Validation copies the parameters into the eval engine by name, then averages the loss over a
// fixed set of validation batches (the same batches every time, so the curve is comparable).
//
// Everything a step depends on is a function of (params, AdamW moments, steps done, seed): the
// batch and the dropout seed are pure in the step index. So resuming is: restore the tensors and
// the step count (restore()), and the losses continue bit for bit.
//
// What it leaves to others: compiling the graphs and choosing the engine
// (runtime/exec/step_engine.h, the CLI), printing (runtime/train/progress.h), sampling
// (runtime/generate/sampling.h), the checkpoint files (runtime/train/train_checkpoint.h).
#pragma once

#include "runtime/exec/step_engine.h"
#include "runtime/text/token_data.h"
#include "runtime/train/batch_source.h"
#include "runtime/train/lr_schedule.h"
#include "runtime/train/progress.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gptc {

struct TrainOptions {
  int64_t steps = 100;
  LrSchedule schedule;  ///< totalSteps is set from `steps` by create()
  int64_t valEvery = 0; ///< validate before steps 0, valEvery, 2·valEvery, ... and after the
                        ///< last; 0 = only after the last
  int valBatches = 8;   ///< batches averaged per validation
  uint64_t seed = 0;    ///< params, batch order and dropout all derive from it
  /// Data parallelism (mpirun; passes/data_parallel.cpp): this process is rank `rank` of
  /// `ranks`. The sources passed to create() give the global batch of ranks·B rows; this rank
  /// trains on rows rank·B … (rank+1)·B−1 (B: the training graph's batch) and binds `row0` =
  /// rank·B.
  int rank = 0;
  int ranks = 1;
};

class Trainer {
public:
  /// `train` runs the training graph (inputs tokens, targets [B,T] i32, lr f32[], step i32[],
  /// optionally seed i32[]; outputs loss and grad_norm). `eval` (may be null: no validation) runs
  /// an inference graph with the same params and the same tokens/targets shape. The engines must
  /// outlive the trainer. nullptr and *err on a mismatch or too little data.
  static std::unique_ptr<Trainer> create(StepEngine& train, StepEngine* eval, TokenSplit data,
                                         TrainOptions options, std::string* err);
  /// Any model: `trainData` fills the training graph's inputs, `valData` (null when eval is null)
  /// the evaluation graph's; batches 0..valBatches-1 of it are the validation set. The training
  /// graph must have `lr`, `step` and the outputs `loss`, `grad_norm`.
  static std::unique_ptr<Trainer> create(StepEngine& train, StepEngine* eval,
                                         std::unique_ptr<BatchSource> trainData,
                                         std::unique_ptr<BatchSource> valData, TrainOptions options,
                                         std::string* err);

  /// Seeded parameter (and optimizer state) init from options.seed.
  std::string initParams();

  /// One training step (validating first when it is due); fills `report`. "" or the problem.
  std::string step(StepReport* report);
  /// The mean validation loss over the fixed validation batches, with the current params.
  std::string validate(float* loss);

  int64_t stepsDone() const { return done_; }
  bool finished() const { return done_ >= options_.steps; }
  int64_t tokensPerStep() const { return trainData_->tokensPerBatch(); }
  /// (0-based step, loss) of every training step, and of every validation (the step = updates
  /// done before it), as llm.c's main.log numbers them.
  const std::vector<LossPoint>& trainCurve() const { return trainCurve_; }
  const std::vector<LossPoint>& valCurve() const { return valCurve_; }
  const TrainOptions& options() const { return options_; }

  /// Every param and optimizer state tensor as a gptc checkpoint
  /// (runtime/formats/llmc_checkpoint.h), written atomically, with `metadata` (JSON) stored beside
  /// them.
  std::string saveCheckpoint(const std::string& path, const std::string& metadata) const;

  /// The f32 values of kind `kind` (Param: the weights; State: the AdamW moments m.*, v.*), in
  /// graph order. With ZeRO-1 the moments are gathered from every rank (a collective: every rank
  /// calls it) and come out whole, as a single process has them.
  std::string readTensors(ValueKind kind, std::vector<NamedTensor>* out) const;
  /// Continues a run: binds every param and state of the training graph from `tensors` (each
  /// must be present, with the declared shape; others are ignored), sets the steps done and the
  /// curves so far. The step count must be <= options().steps.
  std::string restore(const std::vector<NamedTensor>& tensors, int64_t stepsDone,
                      std::vector<LossPoint> trainCurve, std::vector<LossPoint> valCurve);

  /// Steps [from, to) once more on `engine`, a second build of the training graph (e.g. with
  /// kernel hooks: runtime/trace/check_finite.h), from `state` (every param and AdamW moment after
  /// `from` steps; null: initParams' values, for from = 0), binding the inputs step() binds, so
  /// the replay computes what the run computed. Stops early once `stop()` is true. This trainer
  /// and its engine are not touched. "" or the problem.
  std::string replay(StepEngine& engine, const std::vector<NamedTensor>* state, int64_t from,
                     int64_t to, const std::function<bool()>& stop) const;

  const BatchSource& trainData() const { return *trainData_; }
  const BatchSource* valData() const { return valData_.get(); }

private:
  Trainer(StepEngine& train, StepEngine* eval, std::unique_ptr<BatchSource> trainData,
          std::unique_ptr<BatchSource> valData, TrainOptions options);
  static std::string bindInputs(StepEngine& engine, NamedInputs inputs);
  /// The batch, lr, step and dropout seed of 0-based step `s`.
  std::string bindStepInputs(StepEngine& engine, int64_t s) const;

  StepEngine& train_;
  StepEngine* eval_;
  std::unique_ptr<BatchSource> trainData_, valData_;
  TrainOptions options_;
  bool hasSeed_ = false;
  bool hasRow0_ = false;
  bool hasRank_ = false;
  int64_t localRows_ = 0; ///< B of the training graph (data parallelism: this rank's rows)
  int64_t done_ = 0;
  std::vector<LossPoint> trainCurve_, valCurve_;
};

/// "" when every value of `tensors` is finite, else where the first NaN or Inf is: "`w.fc` [12] is
/// nan". Checked before a checkpoint is written: a diverged state is never saved.
std::string firstNonFinite(const std::vector<NamedTensor>& tensors);

/// Rows `rank`·B … (`rank`+1)·B−1 of every tensor of `global`'s batches, B = rows / ranks: a
/// rank's share of the global batch (data parallelism). ranks = 1: `global` itself.
std::unique_ptr<BatchSource> rankRows(std::unique_ptr<BatchSource> global, int rank, int ranks);

/// The dropout seed of step `step` for a run seeded with `seed` (a SplitMix64 mix, as an i32).
int32_t dropoutSeed(uint64_t seed, int64_t step);

} // namespace gptc
