// gptc: the command line. Dispatches to a subcommand; every subcommand owns its flags.
#include "tools/commands.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace {

const char* kUsage = R"(gptc — a computation-graph compiler for Transformers

usage:
  gptc compile MODEL.graph [flags]   run the passes, print a summary, dump the IR after each pass
  gptc run [MODEL.graph] [flags]     --eval, --train (default: the char-level Shakespeare GPT), --generate
  gptc report OUTDIR [flags]         one HTML page: passes, memory plan, kernels, loss, attention
  gptc tokenize TEXT [flags]         GPT-2 BPE, written as llm.c token shards (TEXT_train.bin, TEXT_val.bin)
  gptc quantize CKPT -o OUT --weights bf16|int8   a checkpoint with bf16 or int8 weights
  gptc help COMMAND                  the flags of a command (same as gptc COMMAND --help)
)";

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  if (cmd == "help" && argc >= 3) {
    cmd = argv[2];
    char help[] = "--help";
    char* args[] = {argv[0], help, nullptr};
    if (cmd == "compile") return gptc::tools::cmdCompile(2, args);
    if (cmd == "run") return gptc::tools::cmdRun(2, args);
    if (cmd == "report") return gptc::tools::cmdReport(2, args);
    if (cmd == "tokenize") return gptc::tools::cmdTokenize(2, args);
    if (cmd == "quantize") return gptc::tools::cmdQuantize(2, args);
  }
  if (cmd == "compile") return gptc::tools::cmdCompile(argc - 1, argv + 1);
  if (cmd == "run") return gptc::tools::cmdRun(argc - 1, argv + 1);
  if (cmd == "tokenize") return gptc::tools::cmdTokenize(argc - 1, argv + 1);
  if (cmd == "report") return gptc::tools::cmdReport(argc - 1, argv + 1);
  if (cmd == "quantize") return gptc::tools::cmdQuantize(argc - 1, argv + 1);
  std::fprintf(stderr, "gptc: unknown command '%s' (try gptc --help)\n", cmd.c_str());
  return 2;
}
