// `gptc run` as a user meets it (issue #15 item 3, #23 item 3): one grammar in every mode. The mode
// (--eval, --train, --train --tokens FILE, --generate) is chosen by a parser, each mode's --help is
// true, --set takes several assignments after one flag everywhere, -b/-t conflict only with a
// --set B=/T= that was given, and the optimizer's flags reach the step, main.log, the run card
// and --resume's check. The built binary, its exit codes and what it prints.
#include "tests/cli/cli_test_util.h"

#include <cstdint>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <vector>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;
using cli_test::slurp;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_run_cli_test_");
  return d;
}

Run gptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

/// The tiny GPT-2 of the parity fixtures: compiles and runs in well under a second.
const std::string kTinyGpt2 = "models/gpt2.graph --set V=64 Vp=128 maxT=16 L=1 NH=2 C=32 --set T=8";

/// A raw uint16 token file of `n` ids below 64.
fs::path tokenFile(int n) {
  fs::path p = scratch() / "tokens.u16";
  std::vector<uint16_t> ids;
  for (int i = 0; i < n; ++i)
    ids.push_back(uint16_t((i * 7 + 3) % 64));
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(ids.data()), std::streamsize(ids.size() * 2));
  return p;
}

/// A one-step trainer run of a tiny chargpt into `out` (extra flags appended).
std::string tinyTrain(const fs::path& out, const std::string& extra = "") {
  return "run --train --steps 1 --val-every 0 --val-batches 1 --sample 0 -n 0 --set L=1 C=32 "
         "NH=2 -t 16 -o '" +
         out.string() + "' " + extra;
}

} // namespace

TEST_CASE("gptc run --help: the modes, truthfully") {
  Run r = gptc("run --help");
  CHECK(r.code == 0);
  for (const char* s : {"--eval", "--train", "--generate", "--tokens FILE", "fixed-batch"})
    CHECK_MESSAGE(r.out.find(s) != std::string::npos, s);
  CHECK(r.out.find("not available") == std::string::npos);
  CHECK(gptc("help run").out == r.out);

  Run train = gptc("run --train --help");
  CHECK(train.code == 0);
  CHECK(train.out.find("a character-level GPT on a text file") == std::string::npos);
  for (const char* flag :
       {"--set", "--batch", "--seq", "--lr", "--warmup", "--lr-schedule", "--weight-decay",
        "--beta1", "--beta2", "--eps", "--grad-clip", "token shards", "seq2seq"})
    CHECK_MESSAGE(train.out.find(flag) != std::string::npos, flag);

  Run fixed = gptc("run models/gpt2.graph --train --tokens x.bin --help");
  CHECK(fixed.code == 0);
  for (const char* flag : {"fixed-batch", "--steps", "--weight-decay", "--grad-clip",
                           "--lr-schedule", "--profile", "--pipeline"})
    CHECK_MESSAGE(fixed.out.find(flag) != std::string::npos, flag);

  Run eval = gptc("run --eval --help");
  CHECK(eval.code == 0);
  CHECK(eval.out.find("--repeat") != std::string::npos);
  CHECK(eval.out.find("--weight-decay") == std::string::npos); // not an --eval flag

  Run gen = gptc("run --generate --help");
  CHECK(gen.code == 0);
  CHECK(gen.out.find("--set") != std::string::npos);
}

TEST_CASE("gptc run: the mode is one of four, or a one-line usage error") {
  Run none = gptc("run models/gpt2.graph");
  CHECK(none.code == 2);
  CHECK(none.errLines() == 1);
  CHECK(none.err.find("--eval, --train or --generate") != std::string::npos);
  Run two = gptc("run models/gpt2.graph --eval --generate");
  CHECK(two.code == 2);
  CHECK(two.errLines() == 1);
  CHECK(two.err.find("different modes") != std::string::npos);
}

TEST_CASE("--set takes several assignments after one flag in every command") {
  Run compile = gptc("compile models/gpt2.graph --set L=1 C=64 NH=2 --emit=graph");
  CHECK_MESSAGE(compile.code == 0, compile.err);
  CHECK(compile.out.find("f32[1,192,64]") != std::string::npos); // qkvw: [L, 3C, C]

  Run eval = gptc("run " + kTinyGpt2 + " B=2 --eval");
  CHECK_MESSAGE(eval.code == 0, eval.err);
  CHECK(eval.out.find("loss ") != std::string::npos);

  Run report = gptc("report " + scratch().string() + " --set L=1 C=32 NH=2 --profile-steps 0");
  CHECK_MESSAGE(report.code == 0, report.err);
}

TEST_CASE("-b/-t and --set B=/T=: a conflict only when both were given") {
  // #23: the trainer's own default batch is not a flag the user gave.
  Run set = gptc(tinyTrain(scratch() / "setb", "--set B=2"));
  CHECK_MESSAGE(set.code == 0, set.err);
  CHECK(set.out.find("B=2 T=16") != std::string::npos);
  Run flag = gptc(tinyTrain(scratch() / "flagb", "-b 2"));
  CHECK_MESSAGE(flag.code == 0, flag.err);
  CHECK(flag.out.find("B=2 T=16") != std::string::npos);

  struct Case {
    std::string args;
    const char* says;
  } cases[] = {
      {tinyTrain(scratch() / "both", "-b 2 --set B=2"), "--batch and --set B=... both given"},
      {"run " + kTinyGpt2 + " --eval -t 4", "--seq and --set T=... both given"},
      {"compile models/gpt2.graph -b 2 --set B=3", "--batch and --set B=... both given"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.args);
    Run r = gptc(c.args);
    CHECK(r.code == 2);
    CHECK(r.errLines() == 1);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err);
  }
}

TEST_CASE("the fixed-batch mode takes the optimizer flags") {
  const std::string tokens = tokenFile(64).string();
  Run r = gptc("run " + kTinyGpt2 + " B=2 --train --tokens '" + tokens +
               "' --steps 3 --weight-decay 0 --beta2 0.999 --grad-clip 0 --lr-schedule constant");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("betas (0.9, 0.999)") != std::string::npos);
  CHECK(r.out.find("weight decay 0,") != std::string::npos);
  CHECK(r.out.find("grad clip off") != std::string::npos);
  CHECK(r.out.find("step    3") != std::string::npos);

  for (auto [flag, says] : std::vector<std::pair<std::string, std::string>>{
           {"--lr-schedule step", "--lr-schedule must be cosine, linear or constant"},
           {"--beta2 1", "--beta2 must be in [0, 1)"},
           {"--eps 0", "--eps must be > 0"},
           {"--grad-clip -1", "--grad-clip must be >= 0"},
           {"--weight-decay -0.1", "--weight-decay must be >= 0"}}) {
    CAPTURE(flag);
    Run e = gptc("run " + kTinyGpt2 + " --train --tokens '" + tokens + "' " + flag);
    CHECK(e.code == 2);
    CHECK(e.errLines() == 1);
    CHECK_MESSAGE(e.err.find(says) != std::string::npos, e.err);
  }
}

TEST_CASE("the trainer: optimizer settings in main.log and the run card, checked on --resume; "
          "the report compiles the run's own model") {
  const fs::path out = scratch() / "opt";
  fs::remove_all(out);
  Run r = gptc(tinyTrain(out, "-b 2 --weight-decay 0.05 --beta2 0.99 --lr-schedule linear"));
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("linear to") != std::string::npos);
  std::string log = slurp(out / "main.log");
  CHECK(log.find("# AdamW lr 0.001 (warmup 100, linear to 0.0001), betas (0.9, 0.99), eps 1e-08, "
                 "weight decay 0.05, grad clip 1") != std::string::npos);
  std::string card = slurp(out / "run.card");
  for (const char* line : {"weight_decay=0.05\n", "beta2=0.99\n", "lr_schedule=linear\n", "B=2\n",
                           "T=16\n", "sets=L=4 C=128 NH=4 L=1 C=32 NH=2 \n"})
    CHECK_MESSAGE(card.find(line) != std::string::npos, line);
  CHECK(card.find("model_hash=") != std::string::npos);

  Run resume = gptc(tinyTrain(out, "-b 2 --weight-decay 0.1 --beta2 0.99 --lr-schedule linear "
                                   "--resume '" +
                                       out.string() + "'"));
  CHECK(resume.code == 2);
  CHECK(resume.errLines() == 1);
  CHECK_MESSAGE(resume.err.find("--weight-decay `0.05`") != std::string::npos, resume.err);

  // gptc report OUT: the run's L=1 C=32 NH=2 B=2 T=16, not the file's defaults.
  Run report = gptc("report '" + out.string() + "' --profile-steps 0");
  REQUIRE_MESSAGE(report.code == 0, report.err);
  std::string html = slurp(out / "report.html");
  CHECK(html.find("L=1 C=32 NH=2 B=2 T=16") != std::string::npos);
  CHECK(html.find("f32[2,16,32]") != std::string::npos); // (B,T,C) activations
}

TEST_CASE("model cards: checked when compiled; a checkpoint carries its model's source") {
  fs::path bad = scratch() / "badcard.graph";
  std::ofstream(bad) << "input x : f32[2]\noutput y = relu(x)\ncard task = translation\n";
  Run r = gptc("compile '" + bad.string() + "'");
  CHECK(r.code == 2);
  CHECK_MESSAGE(r.err.find(bad.string() + ":3:6: error: card: task is lm or seq2seq") !=
                    std::string::npos,
                r.err);

  // Trained here, generated from another folder where models/chargpt.graph does not exist.
  const fs::path out = scratch() / "card";
  fs::remove_all(out);
  Run train = gptc(tinyTrain(out, "-b 2"));
  REQUIRE_MESSAGE(train.code == 0, train.err);
  std::string cmd = "cd '" + scratch().string() + "' && '" + GPTC_BINARY_DIR +
                    "/tools/gptc' run --generate --init card/model.ckpt --prompt ROMEO: -n 4 " +
                    "--seed 1 > gen.out 2> gen.err";
  int status = std::system(cmd.c_str());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  std::string err = slurp(scratch() / "gen.err"), text = slurp(scratch() / "gen.out");
  CHECK_MESSAGE(err.find("the model source stored in card/model.ckpt") != std::string::npos, err);
  CHECK(text.rfind("ROMEO:", 0) == 0);
}
