// runtime/formats/run_card.h — what a training run was: the model file (and a hash of its source
// text, so a checkpoint never silently runs against an edited graph), the constants it compiled
// with, B and T, the steps, the seed, the data size and the optimizer's settings. One typed
// structure, read and written here only: the trainer writes it to <out>/run.card when it starts and
// into every checkpoint's state (TrainCheckpoint::info), --resume compares it field by field, and
// `gptc report OUT` compiles the run's own model from it.
//
// The text form is `key=value` lines (the keys of toInfo()), the same lines a checkpoint's state
// holds, so one reader serves both.
//
// What it leaves to others: what the settings mean (tools/cmd_train.cpp), the checkpoint files
// (runtime/train/train_checkpoint.h).
#pragma once

#include "runtime/formats/file_io.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gptc {

struct RunCard {
  std::string model;             ///< the model file as given ("models/chargpt.graph")
  std::string modelHash;         ///< modelSourceHash() of its text when the run started
  std::string modelSource;       ///< that text: a checkpoint runs from any folder
  std::vector<std::string> sets; ///< the run's --set values, defaults first ("L=4", "C=128")
  int64_t B = 0, T = 0;          ///< the training step's batch and sequence length
  int64_t steps = 0;             ///< the run's planned steps
  uint64_t seed = 0;
  int64_t dataTokens = 0; ///< train + validation tokens (0 for generated data)
  /// lr, min_lr_fraction, warmup, lr_schedule, weight_decay, beta1, beta2, eps, grad_clip: the
  /// texts the flags were given as (tools/options.h's optimizerInfo).
  std::map<std::string, std::string> optimizer;

  /// The key=value map (model, model_hash, model_source, sets, B, T, steps, seed, data_tokens, and
  /// the optimizer's keys). --resume compares two of these key by key.
  std::map<std::string, std::string> toInfo() const;
  /// The inverse; keys it does not know are ignored, missing ones stay at their defaults (older
  /// checkpoints have no model_hash nor optimizer settings beyond lr). An error for a malformed
  /// number.
  static IoResult<RunCard> fromInfo(const std::map<std::string, std::string>& info);

  /// The constants the run compiled its training step with: sets, then B= and T=.
  std::vector<std::string> assignments() const;

  /// The text form: a header line, then toInfo()'s key=value lines (values escaped: \n, \\),
  /// then `extra` (a checkpoint's val_loss).
  std::string toText(const std::map<std::string, std::string>& extra = {}) const;
  /// The inverse; also reads the JSON metadata of checkpoints written before the card
  /// ({"model":"...","sets":"...",...}).
  static IoResult<RunCard> fromText(const std::string& text);
};

/// FNV-1a 64 of `text`, as 16 hex digits.
std::string modelSourceHash(std::string_view text);

/// Writes `card` as key=value lines, atomically.
IoStatus writeRunCard(const std::string& path, const RunCard& card);
/// Reads what writeRunCard wrote.
IoResult<RunCard> readRunCard(const std::string& path);

} // namespace gptc
