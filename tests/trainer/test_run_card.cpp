// The run card (runtime/formats/run_card.h): its key=value form round trips, older checkpoints'
// info (no hash, no optimizer settings) still reads, the source hash is stable; and the
// learning-rate schedules --lr-schedule chooses (runtime/train/lr_schedule.h).
#include "runtime/formats/run_card.h"
#include "runtime/train/lr_schedule.h"

#include <doctest/doctest.h>
#include <filesystem>

using namespace gptc;

TEST_CASE("run card: written, read back, and the checkpoint info it came from") {
  RunCard c;
  c.model = "models/chargpt.graph";
  c.modelHash = modelSourceHash("const V = 65\n");
  c.sets = {"L=4", "C=128", "NH=4"};
  c.B = 32;
  c.T = 64;
  c.steps = 2000;
  c.seed = 1337;
  c.dataTokens = 1115394;
  c.optimizer = {{"lr", "0.001"}, {"beta2", "0.999"}, {"lr_schedule", "constant"}};
  std::map<std::string, std::string> info = c.toInfo();
  CHECK(info.at("sets") == "L=4 C=128 NH=4 "); // as checkpoints before the card wrote it
  CHECK(info.at("beta2") == "0.999");
  IoResult<RunCard> back = RunCard::fromInfo(info);
  REQUIRE(back);
  CHECK(back->toInfo() == info);
  CHECK(back->assignments() == std::vector<std::string>{"L=4", "C=128", "NH=4", "B=32", "T=64"});

  auto path = std::filesystem::path(GPTC_BINARY_DIR) / "run_card_test.card";
  REQUIRE(writeRunCard(path.string(), c));
  IoResult<RunCard> read = readRunCard(path.string());
  REQUIRE_MESSAGE(read, read.error());
  CHECK(read->toInfo() == info);

  // A checkpoint from before the card: no model_hash, no optimizer settings beyond lr.
  IoResult<RunCard> old = RunCard::fromInfo(
      {{"model", "m.graph"}, {"sets", ""}, {"B", "4"}, {"T", "8"}, {"lr", "0.001"}});
  REQUIRE(old);
  CHECK(old->modelHash.empty());
  CHECK(old->toInfo().count("model_hash") == 0);
  CHECK_FALSE(RunCard::fromInfo({{"B", "four"}}));

  CHECK(modelSourceHash("") == "cbf29ce484222325"); // FNV-1a 64's offset basis
  CHECK(modelSourceHash("a") != modelSourceHash("b"));
}

TEST_CASE("lr schedules: cosine, linear, constant after the same warmup") {
  LrSchedule s;
  s.maxLr = 1.0;
  s.minLr = 0.1;
  s.warmupSteps = 2;
  s.totalSteps = 12; // decay over steps 2..11
  for (auto kind :
       {LrSchedule::Kind::Cosine, LrSchedule::Kind::Linear, LrSchedule::Kind::Constant}) {
    s.kind = kind;
    CHECK(s.lrAt(0) == doctest::Approx(0.5)); // warmup: (step + 1) / warmup
    CHECK(s.lrAt(2) == doctest::Approx(1.0));
  }
  s.kind = LrSchedule::Kind::Linear;
  CHECK(s.lrAt(11) == doctest::Approx(0.1));
  CHECK(s.lrAt(2 + 9 / 3) == doctest::Approx(1.0 - 0.9 / 3)); // a third of the way down
  s.kind = LrSchedule::Kind::Cosine;
  CHECK(s.lrAt(11) == doctest::Approx(0.1));
  CHECK(s.lrAt(2 + 9 / 3) > 1.0 - 0.9 / 3); // the cosine starts slower than the line
  s.kind = LrSchedule::Kind::Constant;
  CHECK(s.lrAt(11) == doctest::Approx(1.0));
  LrSchedule::Kind k;
  CHECK(LrSchedule::kindFromName("linear", &k));
  CHECK(k == LrSchedule::Kind::Linear);
  CHECK_FALSE(LrSchedule::kindFromName("step", &k));
}
