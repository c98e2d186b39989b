// tools/train_command.h — `gptc run --train`: the trainer on real text (tools/cmd_train.cpp).
#pragma once

namespace gptc::tools {

/// Parses the trainer's flags and runs it; the process exit code (2 on bad usage, one line).
int cmdTrain(int argc, char** argv);

} // namespace gptc::tools
