// The commands a newcomer runs, from a folder other than the repo root (issue #15): `gptc run
// --train` with no model and no data finds models/chargpt.graph and data/tinyshakespeare.txt
// beside the binary or in the source tree (tools/options.h sourceTreePath), and --generate and
// `gptc report` then work on that run from the same folder. And --generate on a model whose card
// says `vocab = words` (models/attention_log.graph, issue #20) reads the run's vocab.words: the
// prompt in words, the output in words, the trainer's sample equal to --generate's.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <set>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

using cli_test::q;
using cli_test::Run;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_any_folder_test_");
  return d;
}

/// `gptc <args>` run with `cwd` as the current folder.
Run runGptcFrom(const fs::path& cwd, const std::string& args) {
  return cli_test::runShell("cd " + q(cwd) + " && " +
                                q(std::string(GPTC_BINARY_DIR) + "/tools/gptc") + " " + args,
                            scratch() / "out", scratch() / "err");
}

} // namespace

TEST_CASE("gptc run --train, --generate and report with the default model from another folder") {
  const fs::path cwd = scratch() / "elsewhere";
  fs::create_directories(cwd);
  REQUIRE(!fs::exists(cwd / "models"));
  Run train = runGptcFrom(cwd, "run --train --set L=1 C=32 NH=2 -b 2 -t 8 --steps 2 "
                               "--val-every 0 --sample 0 --threads 2 -o run");
  REQUIRE_MESSAGE(train.code == 0, (train.out + train.err));
  CHECK(train.says("models/chargpt.graph"));
  CHECK(train.says("data/tinyshakespeare.txt: "));
  CHECK(fs::exists(cwd / "run" / "model.ckpt"));

  Run gen = runGptcFrom(cwd, "run --generate --init run/model.ckpt --prompt ROMEO: -n 8 "
                             "--threads 2");
  CHECK_MESSAGE(gen.code == 0, gen.err);
  CHECK(gen.out.rfind("ROMEO:", 0) == 0);
  // No checkpoint, no model: chargpt (found as above) with random weights.
  Run random = runGptcFrom(cwd, "run --generate -n 4 --threads 2");
  CHECK_MESSAGE(random.code == 0, random.err);

  Run report = runGptcFrom(cwd, "report run --profile-steps 0");
  CHECK_MESSAGE(report.code == 0, report.err);
  CHECK(fs::exists(cwd / "run" / "report.html"));
}

TEST_CASE("gptc run --generate on a `vocab = words` model: prompt and output in words") {
  const fs::path out = scratch() / "words";
  Run train = cli_test::runGptcIn(scratch(), "run models/attention_log.graph --train --steps 2 "
                                             "--val-every 0 --sample 8 --seed 7 --threads 2 -o " +
                                                 q(out));
  REQUIRE_MESSAGE(train.code == 0, (train.out + train.err));
  REQUIRE(fs::exists(out / "vocab.words"));
  std::set<std::string> vocab;
  {
    std::istringstream in(cli_test::slurp(out / "vocab.words"));
    for (std::string w; in >> w;)
      vocab.insert(w);
  }
  REQUIRE(vocab.size() == 13);

  // The trainer's sample (from ".", 8 words) is --generate's with no prompt, same seed.
  const std::string header = "sample  (temperature 0.80, seed 7)\n";
  size_t at = train.out.find(header);
  REQUIRE_MESSAGE(at != std::string::npos, train.out);
  Run same = cli_test::runGptcIn(scratch(), "run --generate --init " + q(out / "model.ckpt") +
                                                " -n 8 --seed 7 --temperature 0.8 --threads 2");
  REQUIRE_MESSAGE(same.code == 0, same.err);
  CHECK(same.out == train.out.substr(at + header.size()));

  // A prompt in words: it comes back as written, then 6 more words of the vocabulary.
  Run gen = cli_test::runGptcIn(scratch(), "run --generate --init " + q(out / "model.ckpt") +
                                               " --prompt 'the cat sat' -n 6 --greedy --threads 2");
  REQUIRE_MESSAGE(gen.code == 0, gen.err);
  CHECK(gen.out.rfind("the cat sat ", 0) == 0);
  std::istringstream words(gen.out);
  int n = 0;
  for (std::string w; words >> w; ++n)
    CHECK_MESSAGE(vocab.count(w) == 1, w);
  CHECK(n == 3 + 6);

  // A word the model never saw: one line naming it, exit 2.
  Run bad = cli_test::runGptcIn(scratch(), "run --generate --init " + q(out / "model.ckpt") +
                                               " --prompt 'the zebra' -n 2 --threads 2");
  CHECK(bad.code == 2);
  CHECK(bad.errLines() == 1);
  CHECK_MESSAGE(bad.says("zebra"), bad.err);
}
