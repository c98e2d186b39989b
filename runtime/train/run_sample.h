// runtime/train/run_sample.h — the text a training run prints at its end, through the one
// generation path `gptc run --generate` uses: the model's KV-cache decode step and the lockstep
// loop of runtime/generate/generator.h, picking tokens with runtime/generate/sampling.h's
// pickToken. A prompt plus `count` tokens that fit the context give exactly the tokens `gptc run
// --generate` gives for the same checkpoint, prompt, seed, temperature and top-k
// (tests/cli/test_train_cli.cpp proves it).
//
// Longer samples slide: when the context is full, the newest half of it becomes the next prompt
// (one prefill) and generation continues with the seed advanced. `--generate` refuses that length
// instead, so only the first context-full of tokens is comparable.
//
// A model that has no decode step (the decode-step pass does not know its attention) falls back
// to runtime/generate/sampling.h's sampleTokens: the whole B=1 forward graph at the run's T
// recomputed for every token. note() then says so, for the log.
//
// What it leaves to others: the steps and the loop (runtime/generate/generator.h), when to sample
// and how to print (tools/cmd_train.cpp).
#pragma once

#include "runtime/exec/step_engine.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/sampling.h"

#include <memory>
#include <string>
#include <vector>

namespace gptc {

class RunSampler {
public:
  /// The B=1 decode step of `program` under `overrides` (the run's --set; B and T are set here),
  /// or, when the model has none, the B=1 inference graph at T = `runT`. nullptr and *err when
  /// neither builds.
  static std::unique_ptr<RunSampler> create(std::shared_ptr<ast::Program> program,
                                            const ConstOverrides& overrides, int64_t runT,
                                            Engine engine, int threads, std::string* err);

  /// True on the KV-cache path; false when every token recomputes the whole forward graph.
  bool decodes() const { return gen_ != nullptr; }
  /// "" on the KV-cache path; else one line for the log saying why tokens are recomputed.
  const std::string& note() const { return note_; }
  /// Cache positions (decode path) or the recomputed window (fallback).
  int64_t context() const;

  /// Every param of the sampling step, by name, from `trained` (the training step).
  std::string copyParamsFrom(const StepEngine& trained);

  /// `count` new tokens after `prompt` (non-empty) into *out, picked among the first `vocab`
  /// logits (0 = all). "" or why not.
  std::string sample(const std::vector<int32_t>& prompt, int64_t count,
                     const SamplingOptions& options, int64_t vocab, std::vector<int32_t>* out);

private:
  RunSampler() = default;
  std::unique_ptr<Generator> gen_;
  std::unique_ptr<StepEngine> forward_; // fallback only
  std::string note_;
};

} // namespace gptc
