// tools/train_command.h — `gptc run --train`: the trainer on real text (tools/cmd_train.cpp).
#pragma once

namespace gptc::tools {

/// Whether `gptc run` arguments ask for the trainer: --train, and no --tokens (which selects the
/// one-fixed-batch interpreter check in tools/cmd_run.cpp).
bool wantsTrainer(int argc, char** argv);

/// Parses the trainer's flags and runs it; the process exit code (2 on bad usage, one line).
int cmdTrain(int argc, char** argv);

} // namespace gptc::tools
