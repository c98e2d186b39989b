// tests/trainer/test_cli_data.cpp — the data side of the command line, through the built binary:
// `gptc tokenize` matches GPT-2's reference encodings and writes llm.c shards that read back, and
// a catalogue of malformed inputs (token shards, checkpoints for --resume and --init, tokenizer
// files, flag values) each gives exit status 2 and one line naming the problem — never a crash.
#include "runtime/text/token_data.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <sys/wait.h>

namespace gptc {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

fs::path scratch() {
  static fs::path d = [] {
    fs::path p = fs::path(GPTC_BINARY_DIR) / "cli_data_test";
    fs::remove_all(p);
    fs::create_directories(p);
    return p;
  }();
  return d;
}

Result gptc(const std::string& args) {
  fs::path o = scratch() / "stdout.txt", e = scratch() / "stderr.txt";
  std::string cmd = fmt::format("'{}/tools/gptc' {} > '{}' 2> '{}'", GPTC_BINARY_DIR, args,
                                o.string(), e.string());
  int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = slurp(o);
  r.err = slurp(e);
  return r;
}

fs::path write(const std::string& name, const std::string& bytes) {
  fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

/// Exit 2, exactly one line on stderr, containing `needle`.
void expectUsageError(const Result& r, const std::string& needle) {
  CHECK(r.code == 2);
  CHECK(r.err.find(needle) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}

TEST_CASE("gptc tokenize: GPT-2's ids, llm.c shards that read back") {
  fs::path hello = write("hello.txt", "Hello world");
  Result r = gptc("tokenize --print '" + hello.string() + "'");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "50256 15496 995\n"); // <|endoftext|> first, as llm.c's data scripts do
  r = gptc("tokenize --print --no-eot '" + hello.string() + "'");
  CHECK(r.out == "15496 995\n");
  fs::path special = write("special.txt", "a<|endoftext|>b");
  CHECK(gptc("tokenize --print --no-eot --allow-special '" + special.string() + "'").out ==
        "64 50256 65\n");

  fs::path text = write(
      "text.txt", slurp(fs::path(GPTC_SOURCE_DIR) / "data/tinyshakespeare.txt").substr(0, 20000));
  r = gptc("tokenize '" + text.string() + "' -o '" + (scratch() / "shk").string() + "'");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  IoResult<std::vector<uint16_t>> train = readLlmcTokens((scratch() / "shk_train.bin").string());
  IoResult<std::vector<uint16_t>> val = readLlmcTokens((scratch() / "shk_val.bin").string());
  REQUIRE_MESSAGE(train.ok(), train.error());
  REQUIRE_MESSAGE(val.ok(), val.error());
  CHECK(train->front() == 50256);
  CHECK(val->size() == (train->size() + val->size()) / 10);
  r = gptc("tokenize --print --no-eot '" + text.string() + "'");
  CHECK(r.out.rfind("5962 22307 25", 0) == 0); // "First Citizen:"

  expectUsageError(gptc("tokenize '" + (scratch() / "missing.txt").string() + "'"), "missing.txt");
  expectUsageError(
      gptc("tokenize --tokenizer '" + scratch().string() + "' '" + hello.string() + "'"),
      "encoder.json");
  expectUsageError(gptc("tokenize --val-fraction 1.5 '" + hello.string() + "'"), "--val-fraction");
}

TEST_CASE("malformed files and flags given to gptc run --train: exit 2, one line") {
  const std::string tiny = "run --train --set L=1 C=32 NH=2 maxT=16 -b 4 -t 16 --steps 2 "
                           "--sample 0 --val-every 0 -o '" +
                           (scratch() / "run").string() + "' ";
  // Token shards.
  std::string header(1024, '\0');
  auto shard = [&](int32_t magic, int32_t version, int32_t count, size_t tokens) {
    std::string h = header;
    std::memcpy(h.data(), &magic, 4);
    std::memcpy(h.data() + 4, &version, 4);
    std::memcpy(h.data() + 8, &count, 4);
    return h + std::string(tokens * 2, '\x01');
  };
  expectUsageError(gptc(tiny + "--data '" + write("empty.bin", "").string() + "'"), "empty.bin");
  expectUsageError(
      gptc(tiny + "--data '" + write("magic.bin", shard(7, 1, 100, 100)).string() + "'"),
      "magic.bin");
  expectUsageError(
      gptc(tiny + "--data '" + write("short.bin", shard(20240520, 1, 100, 60)).string() + "'"),
      "short.bin");
  expectUsageError(
      gptc(tiny + "--data '" + write("version.bin", shard(20240520, 9, 100, 100)).string() + "'"),
      "version.bin");
  std::string big = shard(20240520, 1, 100, 100);
  big[1024 + 50] = '\xff', big[1024 + 51] = '\xff'; // token 65535 >= V = 65
  expectUsageError(gptc(tiny + "--data '" + write("range.bin", big).string() + "'"), "range.bin");
  expectUsageError(gptc(tiny + "--data '" + (scratch() / "absent.txt").string() + "'"),
                   "absent.txt");
  // Checkpoints for --init and --resume.
  expectUsageError(gptc(tiny + "--init '" + write("junk.ckpt", "not a checkpoint").string() + "'"),
                   "junk.ckpt");
  fs::create_directories(scratch() / "ck/step_00000001");
  write("ck/step_00000001/state.bin", "GPTCCKPT broken");
  expectUsageError(gptc(tiny + "--resume '" + (scratch() / "ck").string() + "'"), "state.bin");
  expectUsageError(gptc(tiny + "--resume '" + (scratch() / "nothing").string() + "'"), "nothing");
  expectUsageError(gptc(tiny + "--init x.safetensors"), "GPT-2");
  // Flag values.
  expectUsageError(gptc(tiny + "--keep 0"), "--keep");
  expectUsageError(gptc(tiny + "-n -3"), "--checkpoint-every");
}

} // namespace
} // namespace gptc
