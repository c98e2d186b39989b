// runtime/formats/weights_pointer.h — a run's `model.ckpt` without a second copy of its weights. At
// the end of `gptc run --train` the final step folder (runtime/train/train_checkpoint.h) already
// holds every parameter (model.bin) and the AdamW state (state.bin); model.ckpt then is a small
// gptc checkpoint (GPTCCKPT) with no tensors whose JSON metadata — the run's model, sets, B, T,
// steps, seed, val_loss, as before — ends with `"weights":"checkpoints/step_00000500/model.bin"`, a
// path relative to model.ckpt's folder.
//
// Why a file and not a link: a plain file survives every file system, archive and copy tool
// (symlinks do not on FAT/exFAT, some network shares and zip; hard links do not on FAT); the
// relative path keeps working when the run folder moves. Readers that look at the metadata
// (`--generate` finds the model and its --set there) need no change; loadParams
// (runtime/formats/param_store.h) follows the pointer, so `--init`, `--generate` and `gptc run`
// load model.ckpt as before. A pointer whose target is missing is a one-line error naming both.
//
// What it leaves to others: the step folders (runtime/train/train_checkpoint.h), the JSON it is
// given (tools/cmd_train.cpp), loading the weights (runtime/formats/param_store.h).
#pragma once

#include "runtime/formats/file_io.h"
#include "runtime/formats/llmc_checkpoint.h"

#include <optional>
#include <string>

namespace gptc {

/// Writes `path` atomically: a GPTCCKPT with no tensors whose metadata is `json` (an object,
/// "{...}") with "weights": `target` made relative to path's folder appended.
IoStatus writeWeightsPointer(const std::string& path, const std::string& json,
                             const std::string& target);

/// When `checkpoint` (read from `path`) is a pointer: the weights file it names, resolved against
/// path's folder (an error when that file is missing). nullopt when it is an ordinary checkpoint.
std::optional<IoResult<std::string>> weightsPointerTarget(const std::string& path,
                                                          const GptcCheckpoint& checkpoint);

} // namespace gptc
