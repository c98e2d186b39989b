// tests/cli/test_bad_input.cpp — the hostile-user catalogue of issue #21, through the built
// binary: each input is refused quickly with exit code 2 and a short message that says what is
// wrong (never a crash, never exit 0 on wrong input, never megabytes of stderr).
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace fs = std::filesystem;

namespace {

using cli_test::q;
using cli_test::Run;
using cli_test::slurp;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_bad_input_");
  return d;
}

Run gptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

fs::path write(const std::string& name, const std::string& bytes) {
  return cli_test::writeBytes(scratch() / name, bytes);
}

/// An llm.c token shard header claiming `count` tokens, followed by `tokens` tokens of id 1.
std::string shard(int32_t count, size_t tokens) {
  std::string h(1024, '\0');
  int32_t magic = 20240520, version = 1;
  std::memcpy(h.data(), &magic, 4);
  std::memcpy(h.data() + 4, &version, 4);
  std::memcpy(h.data() + 8, &count, 4);
  std::string body;
  for (size_t i = 0; i < tokens; ++i)
    body += std::string("\x01\x00", 2);
  return h + body;
}

} // namespace

TEST_CASE("bad model files: exit 2, a clear message, at once") {
  fs::create_directories(scratch() / "a_folder");
  fs::path big = scratch() / "big.graph";
  { std::ofstream(big) << "input x : f32[2]\n"; }
  fs::resize_file(big, uint64_t(100) << 20); // 100 MB (sparse)
  std::string longName(1 << 20, 'a');
  struct Case {
    std::string args, says;
  } cases[] = {
      {"compile " + q(scratch() / "a_folder"), "is a directory"},
      {"compile " + q(write("empty.graph", "")), "declares nothing"},
      {"compile " + q(write("comments.graph", "# only a comment\n\n# and another\n")),
       "declares nothing"},
      {"compile " + q(write("consts.graph", "const B = 4\n")), "declares nothing"},
      {"compile /dev/zero", "at most 16 MiB"},
      {"compile " + q(big), "a model file is at most 16 MiB"},
      {"compile " + q(write("bom.graph", "\xEF\xBB\xBFinput x : f32[2]\noutput y = relu(x)\n")),
       "byte-order mark"},
      {"compile " + q(write("long.graph", "input x : f32[2]\noutput y = relu(" + longName + ")\n")),
       "long.graph:2:"},
      {"run " + q(scratch() / "a_folder") + " --generate --prompt-ids 1", "is a directory"},
      {"run " + q(write("empty2.graph", "")) + " --generate --prompt-ids 1", "declares nothing"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args.substr(0, 120));
    Run r = gptc(c.args);
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err.substr(0, 2000));
    CHECK(r.err.size() < 2000); // a 1 MB identifier is not echoed
    CHECK(r.errLines() <= 3);   // the message, the line, the caret
    CHECK(r.seconds < 20);
  }
}

TEST_CASE("--generate refuses the values the trainer refuses") {
  const std::string gen = "run models/seq2seq.graph --generate --src '3 1 2' ";
  const std::string chr = "run models/chargpt.graph --generate --prompt-ids 1 -n 2 ";
  struct Case {
    std::string args, says;
  } cases[] = {
      {chr + "--temperature nan", "--temperature"},
      {chr + "--temperature inf", "--temperature"},
      {chr + "--temperature -1", "--temperature"},
      {chr + "--top-k -3", "--top-k"},
      {chr + "--top-p nan", "--top-p"},
      {chr + "--threads 100000", "--threads"},
      {gen + "--beam 0", "--beam must be in 1..64"},
      {gen + "--beam 100000", "--beam must be in 1..64"},
      {gen + "--eval-sort -1", "--eval-sort"},
      {"run models/seq2seq.graph --generate --prompt 'hello'", "--src"},
      // Every character of an id is read: "1x" and "1;2" are not ids (std::stoi took the 1).
      {"run models/chargpt.graph --generate -n 2 --prompt-ids 1x", "'1x' is not a token id"},
      {"run models/chargpt.graph --generate -n 2 --prompt-ids '1;2'", "'1;2' is not a token id"},
      {"run models/chargpt.graph --generate -n 2 --prompt-ids -4", "'-4' is not a token id"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    Run r = gptc(c.args);
    CHECK(r.code == 2);
    CHECK(r.errLines() == 1);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err);
  }
}

TEST_CASE("run --train: explicit zeros and a broken --tokenizer are refused, not replaced") {
  const std::string tiny = "run --train --set L=1 C=32 NH=2 maxT=16 --steps 1 --sample 0 "
                           "--val-every 0 -o " +
                           q(scratch() / "zeros") + " ";
  struct Case {
    std::string args, says;
  } cases[] = {
      {tiny + "-b 0 -t 8", "--batch: '0' is not a positive integer"},
      {tiny + "-b 2 -t 0", "--seq: '0' is not a positive integer"},
      {tiny + "--threads 100000", "--threads"},
      {tiny + "-b 2 -t 8 --data " + q(write("tok_train.bin", shard(64, 64))) + " --tokenizer " +
           q(scratch() / "no_tokenizer_here"),
       "--tokenizer"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    Run r = gptc(c.args);
    CHECK(r.code == 2);
    CHECK(r.errLines() == 1);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err);
  }
}

TEST_CASE("run --tokens: a shard whose header claims more tokens than the file holds") {
  Run r = gptc("run models/chargpt.graph --eval --set L=1 --set C=32 --set NH=2 --batch 1 --seq 8 "
               "--tokens " +
               q(write("short_shard.bin", shard(1000, 20))));
  CHECK(r.code == 2);
  CHECK(r.errLines() == 1);
  CHECK_MESSAGE(r.err.find("short_shard.bin") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find("vocabulary") == std::string::npos, r.err); // not "out of range"
}
