// tools/generate_command.h — `gptc run --generate`: text from a model with the KV-cache generator
// (tools/cmd_generate.cpp).
#pragma once

namespace gptc::tools {

/// Parses the generator's flags and runs it; the process exit code (2 on bad usage, one line).
int cmdGenerate(int argc, char** argv);

} // namespace gptc::tools
