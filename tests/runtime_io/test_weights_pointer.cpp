// A run's model.ckpt as a pointer to its final step folder's weights
// (runtime/formats/weights_pointer.h): the metadata the tools read stays, the path is relative, a
// missing target and a pointer to a pointer are one-line errors, an ordinary checkpoint is not a
// pointer.
#include "runtime/formats/weights_pointer.h"
#include "tests/runtime_io/io_test_util.h"

#include <doctest/doctest.h>
#include <filesystem>

using namespace gptc;
using namespace gptc::testing;

TEST_CASE("model.ckpt names the step folder's weights, relative to its own folder") {
  TempDir t;
  std::filesystem::create_directories(t.dir / "checkpoints/step_00000002");
  GptcCheckpoint weights;
  weights.metadata = "gptc-train-params 1";
  weights.tensors.push_back({"w", {2}, {1.f, 2.f}});
  const std::string target = t.path("checkpoints/step_00000002/model.bin");
  REQUIRE(writeGptcCheckpoint(target, weights).ok());

  const std::string ptr = t.path("model.ckpt");
  REQUIRE(writeWeightsPointer(ptr, R"({"model":"m.graph","sets":"L=1 "})", target).ok());
  IoResult<GptcCheckpoint> ck = readGptcCheckpoint(ptr);
  REQUIRE(ck.ok());
  CHECK(ck->tensors.empty());
  CHECK(ck->metadata ==
        R"({"model":"m.graph","sets":"L=1 ","weights":"checkpoints/step_00000002/model.bin"})");
  auto to = weightsPointerTarget(ptr, *ck);
  REQUIRE(to.has_value());
  REQUIRE(to->ok());
  CHECK(std::filesystem::equivalent(**to, target));

  // The run folder moved: the relative path still holds.
  std::filesystem::rename(t.dir / "checkpoints", t.dir / "moved");
  std::filesystem::create_directories(t.dir / "run");
  std::filesystem::rename(t.dir / "moved", t.dir / "run/checkpoints");
  std::filesystem::rename(ptr, t.path("run/model.ckpt"));
  auto moved = weightsPointerTarget(t.path("run/model.ckpt"), *ck);
  REQUIRE(moved.has_value());
  CHECK(moved->ok());

  // Its step folder gone: an error naming the file.
  std::filesystem::remove_all(t.dir / "run/checkpoints");
  auto gone = weightsPointerTarget(t.path("run/model.ckpt"), *ck);
  REQUIRE(gone.has_value());
  CHECK_FALSE(gone->ok());
  CHECK(gone->error().find("checkpoints/step_00000002/model.bin, which is missing") !=
        std::string::npos);

  // An ordinary checkpoint (tensors, or no "weights") is not a pointer.
  CHECK_FALSE(weightsPointerTarget(target, weights).has_value());
  GptcCheckpoint empty;
  empty.metadata = R"({"model":"m.graph"})";
  CHECK_FALSE(weightsPointerTarget(ptr, empty).has_value());
  CHECK_FALSE(writeWeightsPointer(ptr, "{\"model\":\"m.graph\"", target).ok()); // broken JSON
  // The run card's key=value lines (runtime/formats/run_card.h) get a `weights=` line.
  std::filesystem::create_directories(t.dir / "checkpoints/step_00000002");
  REQUIRE(writeGptcCheckpoint(target, weights).ok());
  REQUIRE(writeWeightsPointer(ptr, "# gptc run card\nmodel=m.graph\n", target).ok());
  IoResult<GptcCheckpoint> card = readGptcCheckpoint(ptr);
  REQUIRE(card.ok());
  std::optional<IoResult<std::string>> viaCard = weightsPointerTarget(ptr, *card);
  REQUIRE(viaCard.has_value());
  REQUIRE(viaCard->ok());
  CHECK(std::filesystem::equivalent(**viaCard, target));
}
