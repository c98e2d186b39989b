// runtime/trainer.h — the training loop: a compiled training step (forward, backward and AdamW as
// one graph: passes/autodiff.h, passes/optimizer.h) fed with random windows of training tokens,
// the learning rate from the schedule and a fresh dropout seed each step, and a second, inference
// graph (dropout off) that shares the trained parameters for the validation loss and for sampling.
//
// One step of the loop, all on runtime inputs so nothing recompiles:
//   tokens, targets <- RandomBatchSampler(train, seed).sample(step)    (B,T) each
//   lr   <- LrSchedule::lrAt(step)        step <- step + 1 (AdamW's bias correction counts from 1)
//   seed <- mix(seed, step)               (dropout masks differ per step, reproducibly)
//   run(); loss, grad_norm <- outputs
// Validation copies the parameters into the eval engine by name, then averages the loss over a
// fixed set of validation batches (the same windows every time, so the curve is comparable).
//
// What it leaves to others: compiling the graphs and choosing the engine (runtime/step_engine.h,
// the CLI), printing (runtime/progress.h), sampling (runtime/sampling.h), resuming (later).
#pragma once

#include "runtime/lr_schedule.h"
#include "runtime/progress.h"
#include "runtime/step_engine.h"
#include "runtime/token_data.h"

#include <cstdint>
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
};

class Trainer {
public:
  /// `train` runs the training graph (inputs tokens, targets [B,T] i32, lr f32[], step i32[],
  /// optionally seed i32[]; outputs loss and grad_norm). `eval` (may be null: no validation) runs
  /// an inference graph with the same params and the same tokens/targets shape. The engines must
  /// outlive the trainer. nullptr and *err on a mismatch or too little data.
  static std::unique_ptr<Trainer> create(StepEngine& train, StepEngine* eval, TokenSplit data,
                                         TrainOptions options, std::string* err);

  /// Seeded parameter (and optimizer state) init from options.seed.
  std::string initParams();

  /// One training step (validating first when it is due); fills `report`. "" or the problem.
  std::string step(StepReport* report);
  /// The mean validation loss over the fixed validation batches, with the current params.
  std::string validate(float* loss);

  int64_t stepsDone() const { return done_; }
  bool finished() const { return done_ >= options_.steps; }
  int64_t tokensPerStep() const { return int64_t(B_) * T_; }
  /// (0-based step, loss) of every training step, and of every validation (the step = updates
  /// done before it), as llm.c's main.log numbers them.
  const std::vector<LossPoint>& trainCurve() const { return trainCurve_; }
  const std::vector<LossPoint>& valCurve() const { return valCurve_; }
  const TrainOptions& options() const { return options_; }

  /// Every param and optimizer state tensor as a gptc checkpoint (runtime/llmc_checkpoint.h),
  /// written atomically, with `metadata` (JSON) stored beside them.
  std::string saveCheckpoint(const std::string& path, const std::string& metadata) const;

private:
  Trainer(StepEngine& train, StepEngine* eval, RandomBatchSampler trainData,
          std::optional<RandomBatchSampler> valData, TrainOptions options, int B, int T);
  std::string bindBatch(StepEngine& engine, const Batch& batch);

  StepEngine& train_;
  StepEngine* eval_;
  RandomBatchSampler trainData_;
  std::optional<RandomBatchSampler> valData_;
  TrainOptions options_;
  int B_, T_;
  bool hasSeed_ = false;
  int64_t done_ = 0;
  std::vector<LossPoint> trainCurve_, valCurve_;
};

/// The dropout seed of step `step` for a run seeded with `seed` (a SplitMix64 mix, as an i32).
int32_t dropoutSeed(uint64_t seed, int64_t step);

} // namespace gptc
