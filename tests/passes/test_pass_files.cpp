// Runs every tests/passes/inputs/*.graph: the pass tests written in the IR's own syntax with
// # CHECK lines (see pass_file_runner.h). One doctest subcase per file, named after it.
#include "tests/passes/pass_file_runner.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <string>
#include <vector>

TEST_CASE("pass test files") {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(GPTC_SOURCE_DIR "/tests/passes/inputs"))
    if (e.path().extension() == ".graph") files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 10);
  for (const std::string& f : files) {
    SUBCASE(fs::path(f).filename().string().c_str()) {
      std::string failure = gptc::test::runPassFile(f);
      CHECK_MESSAGE(failure.empty(), failure);
    }
  }
}

TEST_CASE("pass test runner: a wrong expectation fails") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "gptc_pass_runner_neg";
  fs::create_directories(dir);
  auto run = [&](const std::string& text) {
    fs::path p = dir / "t.graph";
    FILE* f = std::fopen(p.string().c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return gptc::test::runPassFile(p.string());
  };
  std::string model =
      "# PASSES: simplify, dce\ninput x : f32[2]\noutput y = relu(scale(x) {s = 1})\n";
  CHECK(run(model + "# CHECK: = relu(%x)\n") == "");
  CHECK(run(model + "# EXPECT-OPS: 2\n# CHECK: relu\n").find("EXPECT-OPS 2") != std::string::npos);
  CHECK(run(model + "# EXPECT-COUNTER: simplify.scale-by-one=0\n# CHECK: relu\n")
            .find("EXPECT-COUNTER") != std::string::npos);
  CHECK(run(model + "# EXPECT-ERROR\n# CHECK: relu\n").find("EXPECT-ERROR") != std::string::npos);
  CHECK(run(model + "# CHECK: = scale(\n") != "");
  fs::remove_all(dir);
}
