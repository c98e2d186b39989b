// tests/study/test_report.cpp — the study commands as a user runs them (the built gptc binary):
// a short traced training run of a tiny chargpt, `gptc report` on its folder, and the page loaded
// in headless Chromium (Debian's `chromium`, installed by scripts/setup.sh): it runs its own check
// script without a console error and finds all five sections; the page fetches nothing. Also
// --emit=dot and a NaN caught by --check-finite through the command line.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {
namespace fs = std::filesystem;

fs::path scratch() {
  // Per process: test runs from several build folders at once must not share their files.
  static const fs::path d = [] {
    fs::path p = fs::temp_directory_path() / ("gptc_study_test_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct Run {
  int code = -1;
  std::string out, err;
};

Run shell(const std::string& cmd) {
  fs::path d = scratch();
  std::string full = cmd + " > '" + (d / "out").string() + "' 2> '" + (d / "err").string() + "'";
  int status = std::system(full.c_str());
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(d / "out");
  r.err = slurp(d / "err");
  return r;
}

std::string gptc() {
  return std::string("'") + GPTC_BINARY_DIR + "/tools/gptc'";
}

const char* kTiny = "--set L=2 --set C=32 --set NH=2 -t 16 -b 2";

TEST_CASE("gptc run --train --trace, gptc report, and the page in headless Chromium") {
  fs::path out = scratch() / "run";
  fs::remove_all(out);
  Run train = shell(gptc() + " run --train --steps 3 --warmup 1 --val-every 2 --val-batches 1 " +
                    "--sample 0 --trace --trace-layer 1 --trace-head 1 " + kTiny + " -o '" +
                    out.string() + "'");
  REQUIRE_MESSAGE(train.code == 0, train.err);
  CHECK(train.out.find("trace   step 0:") != std::string::npos);
  std::string log = slurp(out / "trace" / "step_0.txt");
  CHECK(log.find("6. softmax weights") != std::string::npos);
  CHECK(log.find("| sum 1.000000") != std::string::npos);
  CHECK(fs::exists(out / "trace" / "step_0_layer_1_head_1.svg"));

  Run report = shell(gptc() + " report '" + out.string() +
                     "' --set L=2 --set C=32 --set NH=2 --set B=2 --set T=16 --profile-steps 1");
  REQUIRE_MESSAGE(report.code == 0, report.err);
  std::string html = slurp(out / "report.html");
  REQUIRE(!html.empty());
  for (const char* id : {"pipeline", "memory", "kernels", "loss", "attention"})
    CHECK_MESSAGE(html.find(std::string("<section id=\"") + id + "\"") != std::string::npos, id);
  // Self-contained: nothing fetched (no external scripts, styles, images or fonts).
  CHECK(html.find("src=\"http") == std::string::npos);
  CHECK(html.find("href=\"http") == std::string::npos);
  CHECK(html.find("@import") == std::string::npos);

  Run which = shell("command -v chromium");
  REQUIRE_MESSAGE(which.code == 0, "Debian's chromium is needed (scripts/setup.sh installs it)");
  fs::path profile = scratch() / "chromium-profile";
  Run page = shell("timeout 120 chromium --headless --disable-gpu --no-sandbox "
                   "--no-first-run --user-data-dir='" +
                   profile.string() + "' --enable-logging=stderr --v=0 --dump-dom 'file://" +
                   (out / "report.html").string() + "'");
  REQUIRE_MESSAGE(page.code == 0, page.err);
  // The page's own script ran and counted the five sections, each with content.
  CHECK(page.out.find("data-report-sections=\"5/5\"") != std::string::npos);
  // No JavaScript error reached the console.
  CHECK_MESSAGE(page.err.find("Uncaught") == std::string::npos, page.err);
  CHECK_MESSAGE(page.err.find(":CONSOLE(") == std::string::npos, page.err);
}

TEST_CASE("gptc compile --emit=dot; gptc run --train --check-finite stops at a NaN") {
  Run help = shell(gptc() + " run --train --help");
  REQUIRE(help.code == 0);
  for (const char* flag : {"--trace", "--trace-steps", "--trace-layer", "--trace-head", "--report",
                           "--check-finite"})
    CHECK_MESSAGE(help.out.find(flag) != std::string::npos, flag);

  Run dot = shell(gptc() + " compile models/chargpt.graph --set L=1 --set C=32 --set NH=2 " +
                  "--pipeline train --emit=dot");
  REQUIRE(dot.code == 0);
  CHECK(dot.out.rfind("digraph gptc {", 0) == 0);
  CHECK(dot.out.find("adamw_update") != std::string::npos);

  Run bad = shell(gptc() + " run --train --steps 4 --warmup 0 --lr 1e30 --val-every 0 " +
                  "--val-batches 1 --sample 0 --check-finite " + kTiny + " -o '" +
                  (scratch() / "nan").string() + "'");
  CHECK(bad.code == 1);
  CHECK(bad.err.find("stopped by --check-finite") != std::string::npos);
  CHECK(bad.err.find("at models/chargpt.graph:") != std::string::npos);
  CHECK(bad.err.find("inputs, as the kernel read them") != std::string::npos);
}

} // namespace
