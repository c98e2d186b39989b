// runtime/generate/generator.h — text generation with a KV cache: the model's decode step (one new
// token per sequence, passes/decode_step.h) and, for prompts, a prefill step (the prompt's tokens
// at once), compiled from the same model file with --set B=batch T=1 (decode) or T=prompt length
// (prefill). The caches are persistent state of the decode step; after a prefill they are copied
// into it.
//
// Batches run in lockstep: every row is at the same position. Prompts of different lengths prefill
// their common length, then the longer prompts feed their remaining tokens through decode steps
// while shorter rows already sample (a row's cache beyond its position is never read: the mask
// hides it and the next write overwrites it).
//
// seq2seq: `cut = {"mem"}` makes the encoder's output an input of the decode step; encode() runs
// the encoder graph once per source batch and binds `mem` and `src`.
//
// What it leaves to others: picking tokens (runtime/generate/sampling.h), beam search
// (runtime/generate/beam_search.h), tokenizers and the command line (tools/cmd_generate.cpp).
#pragma once

#include "runtime/exec/step_engine.h"
#include "runtime/formats/param_store.h"
#include "runtime/generate/sampling.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gptc {

struct GeneratorConfig {
  Engine engine = Engine::Jit;
  int threads = 0;
  int64_t batch = 1;
  int64_t context = 0;               ///< cache positions; 0 = the model's (learned position table)
  std::vector<std::string> cut;      ///< seq2seq: {"mem"}
  std::string tokenInput = "tokens"; ///< the decoder's token input (seq2seq: tgt_in)
  bool prefill = true;               ///< compile prefill steps; false: prompts go through decode
  /// Weights: "f32", "bf16", "int8" or "int8-row" (passes/quantize.h); params are still given
  /// in f32 and quantized as they are set.
  std::string weights = "f32";
};

class Generator {
public:
  /// Builds (and with the JIT compiles) the decode step of `program` under `overrides` (the
  /// user's --set; B and T are set here). nullptr and *err on failure.
  static std::unique_ptr<Generator> create(std::shared_ptr<ast::Program> program,
                                           ConstOverrides overrides, const GeneratorConfig& config,
                                           std::string* err);

  int64_t context() const { return context_; }
  int64_t batch() const { return config_.batch; }
  /// Columns of logits (GPT-2: the padded vocabulary).
  int64_t logitsWidth() const { return width_; }
  StepEngine& decodeEngine() { return *decode_; }

  /// Params by name into the decode step (prefill steps copy them when built), f32 as the model
  /// declares them: with quantized weights they are quantized here (runtime/formats/quantize.h). ""
  /// or why not.
  std::string setParams(const ParamMap& params);
  /// Every param of the decode step copied by name from `from` (the trainer's training step).
  std::string copyParamsFrom(const StepEngine& from);
  /// Seeded params (runtime/formats/param_init.cpp): the same values any graph of the model gets.
  std::string initParams(uint64_t seed);
  /// Any other input of the decode step that stays fixed over a generation (seq2seq: src, mem).
  std::string bindFixed(const std::string& name, const Tensor& t);

  /// seq2seq: runs the encoder graph (outputs = cut values) on `src` (i32[B,S]) and binds its
  /// outputs and src into the decode step. "" or why not.
  std::string encode(const Tensor& src);

  /// Runs the prompt `tokens` (batch rows of t ids each, row-major) at positions 0..t-1; the
  /// logits of the last position go to *logits (batch x logitsWidth). t = 1 is a decode step.
  std::string prefill(const std::vector<int32_t>& tokens, int64_t t, std::vector<float>* logits);
  /// One token per row at position `pos`; logits as prefill.
  std::string step(const std::vector<int32_t>& tokens, int64_t pos, std::vector<float>* logits);

  /// Milliseconds spent compiling steps so far (prefill compiles on first use of a length).
  double compileMs() const { return compileMs_; }

private:
  Generator() = default;
  Expected<std::unique_ptr<StepEngine>> buildStep(int64_t t, const std::vector<std::string>& outs);
  std::string runAndRead(StepEngine& e, std::vector<float>* logits);

  std::shared_ptr<ast::Program> program_;
  ConstOverrides overrides_;
  GeneratorConfig config_;
  int64_t context_ = 0, width_ = 0;
  std::unique_ptr<StepEngine> decode_, encoder_;
  std::map<int64_t, std::unique_ptr<StepEngine>> prefills_;
  std::map<std::string, Tensor> fixed_; // bound into prefill steps too
  std::vector<Value> f32Params_;        // the model's params as declared (f32), for initParams
  double compileMs_ = 0;
};

/// What to generate: one prompt per batch row (non-empty), up to maxNew tokens each.
struct GenerateRequest {
  std::vector<std::vector<int32_t>> prompts;
  int64_t maxNew = 0;
  SamplingOptions sampling;    ///< temperature 0 = greedy
  int64_t vocab = 0;           ///< pick among the first `vocab` logits (0 = all)
  int32_t eos = -1;            ///< a row stops after emitting it (-1: never)
  std::vector<int32_t> banned; ///< never picked (seq2seq: PAD, SOS)
};

/// Generates with `gen` (batch rows = prompts.size() <= gen.batch(); unused rows repeat the last
/// prompt). `onToken(row, id)` is called for each new token as it is produced. The tokens of each
/// row (new ones only) go to *out. A prompt plus maxNew past the context is an error, before any
/// step runs. "" or why not.
std::string generate(Generator& gen, const GenerateRequest& request,
                     const std::function<void(int64_t row, int32_t id)>& onToken,
                     std::vector<std::vector<int32_t>>* out);

} // namespace gptc
