// runtime/train/train_checkpoint.h — a training run's checkpoints on disk: one folder per saved
// step,
// `<root>/step_00000500/` holding
//   model.bin  the parameters: llm.c's GPT-2 format (gpt2_124M.bin's layout) for GPT-2 models,
//              gptc's named-tensor format (GPTCCKPT) for the others;
//   state.bin  everything else a bit-exact resume needs (GPTCCKPT): the AdamW moments m.*, v.*,
//              the loss curves so far, and `key=value` lines — the step, the seed and the flags the
//              run was started with (batches and dropout masks are pure in (seed, step), so the
//              step is the data position and the RNG state).
// A folder is built under a hidden temporary name (each file written, fsynced), then renamed into
// place and the root fsynced, so a crash (even SIGKILL) at any moment leaves every visible
// step_* folder complete: the latest checkpoint always loads. Only the last `keep` are kept.
//
// What it leaves to others: which tensors go in (runtime/train/trainer.h), when to save and what
// the flags mean (tools/cmd_train.cpp), the file formats themselves
// (runtime/formats/llmc_checkpoint.h).
#pragma once

#include "runtime/formats/llmc_checkpoint.h"
#include "runtime/train/progress.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gptc {

struct TrainCheckpoint {
  int64_t step = 0;                        ///< updates done
  std::map<std::string, std::string> info; ///< the run's settings (no '\n' or '=' in keys)
  std::vector<NamedTensor> params;         ///< the model's weights, in graph order
  std::vector<NamedTensor> optimizer;      ///< AdamW moments
  std::vector<LossPoint> trainCurve, valCurve;
  /// Set for GPT-2 models: model.bin is then an llm.c checkpoint, and `params` must be exactly
  /// llm.c's 16 tensors (runtime/formats/llmc_checkpoint.h's names and shapes; any order).
  std::optional<Gpt2Config> gpt2;
};

/// "step_00000500"
std::string checkpointFolderName(int64_t step);

/// Writes `<root>/step_<step>/` atomically (creating root), then removes all but the `keep`
/// newest step folders (keep >= 1) and any leftovers of interrupted writes. *folder receives the
/// path written.
IoStatus writeTrainCheckpoint(const std::string& root, const TrainCheckpoint& checkpoint, int keep,
                              std::string* folder = nullptr);

/// The newest complete step folder under `root`, or an error when there is none.
IoResult<std::string> latestCheckpoint(const std::string& root);

/// Reads and validates a step folder (both files whole, checksums, the state's keys and curves).
IoResult<TrainCheckpoint> readTrainCheckpoint(const std::string& folder);

} // namespace gptc
