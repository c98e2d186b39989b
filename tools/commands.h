// The gptc subcommands. Each parses its own flags (CLI11) and returns the process exit code:
// 0 success, 1 a failure while running, 2 bad usage or bad input (one line on stderr).
#pragma once

namespace gptc::tools {

int cmdCompile(int argc, char** argv); // tools/cmd_compile.cpp: gptc compile MODEL.graph ...
int cmdReport(int argc, char** argv);  // tools/cmd_report.cpp: gptc report OUTDIR
int cmdRun(int argc,
           char** argv); // tools/cmd_run.cpp:     gptc run [MODEL.graph] --eval|--train|--generate
int cmdTokenize(int argc, char** argv); // tools/cmd_tokenize.cpp: gptc tokenize TEXT
int cmdQuantize(int argc, char** argv); // tools/cmd_quantize.cpp: gptc quantize CKPT -o OUT

} // namespace gptc::tools
