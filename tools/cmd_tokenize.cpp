// tools/cmd_tokenize.cpp — `gptc tokenize TEXT`: GPT-2 byte-level BPE over a text file, written as
// llm.c token shards (a 1024-byte header, then uint16 tokens) that `gptc run --train --data` and
// llm.c's train_gpt2 read: OUT_train.bin with the first (1 - val-fraction) of the tokens and
// OUT_val.bin with the rest. Like llm.c's data scripts, the document starts with <|endoftext|>
// (--no-eot to leave it out); "<|endoftext|>" written in the text stays ordinary characters unless
// --allow-special.
//
// What it leaves to others: the tokenizer (runtime/text/bpe_tokenizer.h), the shard format and the
// atomic write (runtime/text/token_data.h).
#include "tools/commands.h"
#include "tools/options.h"

#include "runtime/text/bpe_tokenizer.h"
#include "runtime/text/token_data.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fmt/format.h>

namespace gptc::tools {
namespace {

int usageError(const std::string& message) {
  std::fprintf(stderr, "gptc tokenize: %s\n", message.c_str());
  return 2;
}

} // namespace

int cmdTokenize(int argc, char** argv) {
  CLI::App app{"gptc tokenize: GPT-2 BPE over a text file, written as llm.c token shards "
               "(OUT_train.bin, OUT_val.bin)",
               "gptc tokenize"};
  std::string input, out, tokenizerDir;
  double valFraction = 0.1;
  bool noEot = false, allowSpecial = false, print = false;
  app.add_option("input", input, "the text file")->required()->type_name("TEXT");
  app.add_option("-o,--out", out, "output prefix (default: the input without its extension)")
      ->type_name("PREFIX");
  app.add_option("--tokenizer", tokenizerDir,
                 "folder with GPT-2's encoder.json and vocab.bpe (default "
                 "assets/gpt2_tokenizer, found beside the binary or in the source tree)")
      ->type_name("DIR");
  app.add_option("--val-fraction", valFraction,
                 "the last fraction of the tokens goes to OUT_val.bin (default 0.1; 0: none)")
      ->type_name("F");
  app.add_flag("--no-eot", noEot, "do not start the document with <|endoftext|>");
  app.add_flag("--allow-special", allowSpecial,
               "encode \"<|endoftext|>\" in the text as the token");
  app.add_flag("--print", print, "print the token ids on stdout instead of writing shards");
  if (int code = parseCommandLine(app, argc, argv, "tokenize"); code >= 0) return code;
  if (!(valFraction >= 0 && valFraction < 1))
    return usageError(fmt::format("--val-fraction must be in [0, 1), got {}", valFraction));

  if (tokenizerDir.empty()) tokenizerDir = assetPath("gpt2_tokenizer");
  IoResult<BpeTokenizer> tok = BpeTokenizer::loadDir(tokenizerDir);
  if (!tok) return usageError(tok.error());
  IoResult<std::string> text = readFileText(input);
  if (!text) return usageError(text.error());
  IoResult<std::vector<int32_t>> ids = tok->encode(*text, allowSpecial);
  if (!ids) return usageError(ids.error());
  if (!noEot) {
    if (tok->eot() < 0) return usageError(tokenizerDir + ": the vocabulary has no <|endoftext|>");
    ids->insert(ids->begin(), tok->eot());
  }
  if (print) {
    std::string line;
    for (size_t k = 0; k < ids->size(); ++k)
      line += (k ? " " : "") + std::to_string((*ids)[k]);
    std::printf("%s\n", line.c_str());
    return 0;
  }
  IoResult<std::vector<uint16_t>> narrow = narrowTokens(*ids);
  if (!narrow) return usageError(narrow.error());
  if (out.empty()) {
    out = input;
    size_t dot = out.find_last_of('.'), slash = out.find_last_of('/');
    if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) out.resize(dot);
  }
  const size_t nVal = size_t(double(narrow->size()) * valFraction);
  std::span<const uint16_t> all(*narrow);
  std::span<const uint16_t> train = all.first(all.size() - nVal), val = all.last(nVal);
  if (IoStatus st = writeLlmcTokens(out + "_train.bin", train); !st) return usageError(st.error());
  std::printf("wrote %s_train.bin: %zu tokens\n", out.c_str(), train.size());
  if (nVal > 0) {
    if (IoStatus st = writeLlmcTokens(out + "_val.bin", val); !st) return usageError(st.error());
    std::printf("wrote %s_val.bin: %zu tokens\n", out.c_str(), val.size());
  }
  return 0;
}

} // namespace gptc::tools
