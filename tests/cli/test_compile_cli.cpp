// `gptc compile` as a user runs it: the built binary, its exit codes, and what it prints on stdout
// and stderr. Usage errors are one line on stderr with exit code 2; IR errors are the Diag
// rendering (file:line:col, the line, a caret), also exit 2.
#include "ir/parser.h"
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;
using cli_test::slurp;

fs::path scratch() {
  // Per process: test runs from several build folders at once must not share their files.
  static const fs::path d = cli_test::makeScratch("gptc_cli_test_");
  return d;
}

/// Runs `gptc <args>` from the repo root (tests run there), capturing both streams.
Run runGptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

fs::path writeModel(const std::string& name, const std::string& text) {
  return cli_test::writeBytes(scratch() / name, text);
}

} // namespace

TEST_CASE("gptc compile --help lists every flag") {
  Run r = runGptc("compile --help");
  CHECK(r.code == 0);
  for (const char* flag :
       {"--set", "--batch", "--seq", "--pipeline", "--emit", "--print-ir-before",
        "--print-ir-after", "--print-ir-after-all", "--print-ir-after-change", "--ir-dump-dir",
        "--verify-each", "--time-passes", "--stop-after", "--disable-pass", "inference", "train"})
    CHECK_MESSAGE(r.out.find(flag) != std::string::npos, flag);
  CHECK(runGptc("help compile").out == r.out);
  Run top = runGptc("--help");
  CHECK(top.code == 0);
  CHECK(top.out.find("gptc compile") != std::string::npos);
}

TEST_CASE("gptc compile models/gpt2.graph: 124,475,904 parameters and a FLOP count") {
  Run r = runGptc("compile models/gpt2.graph");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("parameters   124,475,904") != std::string::npos);
  CHECK(r.out.find("FLOPs/step") != std::string::npos);
  CHECK(r.out.find("matmul") != std::string::npos);
  CHECK(r.out.find("activations") != std::string::npos);
  CHECK(r.err.empty());
}

TEST_CASE("--emit=graph prints a dump that parses back; instrument output stays on stderr") {
  Run r = runGptc("compile models/chargpt.graph --set L=1 --emit=graph --print-ir-after=simplify "
                  "--time-passes --verify-each");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto g = gptc::parseGraph(r.out, "emitted.graph");
  CHECK_MESSAGE(bool(g), g.error().render());
  CHECK(r.out.find("IR Dump") == std::string::npos);
  CHECK(r.err.find("# *** IR Dump After simplify") != std::string::npos);
  CHECK(r.err.find("pass execution timing") != std::string::npos);
}

TEST_CASE("--ir-dump-dir writes numbered dumps and an index") {
  fs::path dir = scratch() / "dumps";
  fs::remove_all(dir);
  Run r = runGptc("compile models/seq2seq.graph --ir-dump-dir=" + dir.string());
  REQUIRE_MESSAGE(r.code == 0, r.err);
  for (const char* f : {"000_input.graph", "001_after_expand.graph", "002_after_infer-shapes.graph",
                        "003_after_lower-einsum.graph", "004_after_simplify.graph",
                        "005_after_cse.graph", "006_after_dce.graph", "index.json"})
    CHECK_MESSAGE(fs::exists(dir / f), f);
  fs::remove_all(dir);
}

TEST_CASE("--batch / --seq override B and T") {
  Run r = runGptc("compile models/gpt2.graph --set L=1 --batch 2 --seq 8 --emit=graph");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("input tokens : i32[2,8]") != std::string::npos);
  fs::path noB = writeModel("nob.graph", "const N = 3\ninput x : f32[N]\noutput y = relu(x)\n");
  Run e = runGptc("compile " + noB.string() + " --batch 2");
  CHECK(e.code == 2);
  CHECK(e.errLines() == 1);
  CHECK(e.err.find("--batch: the model") != std::string::npos);
  CHECK(e.err.find("has no constant 'B'") != std::string::npos);
  Run both = runGptc("compile models/gpt2.graph --batch 2 --set B=3");
  CHECK(both.code == 2);
  CHECK(both.errLines() == 1);
}

TEST_CASE("attention is fused by default; --no-fused-attention keeps the unfused chain") {
  // chargpt (2 layers), training: two attention ops and their gradients, no T×T softmax
  Run fused = runGptc("compile models/chargpt.graph --set L=2 --pipeline train");
  REQUIRE_MESSAGE(fused.code == 0, fused.err);
  CHECK(fused.out.find("  attention  ") != std::string::npos);
  CHECK(fused.out.find("  attention_grad  ") != std::string::npos);
  CHECK(fused.out.find("scale_mask_softmax") == std::string::npos);
  Run unfused = runGptc("compile models/chargpt.graph --set L=2 --pipeline train "
                        "--no-fused-attention");
  REQUIRE_MESSAGE(unfused.code == 0, unfused.err);
  CHECK(unfused.out.find("  attention  ") == std::string::npos);
  CHECK(unfused.out.find("scale_mask_softmax") != std::string::npos);
  // The T×T weights are what fusion removes from the arena.
  auto arenaMiB = [](const std::string& out) {
    size_t at = out.find("arena ");
    REQUIRE(at != std::string::npos);
    return std::stod(out.substr(out.find_first_of("0123456789", at)));
  };
  CHECK(arenaMiB(fused.out) < arenaMiB(unfused.out));
}

TEST_CASE("--pipeline train runs; an unknown pipeline is a usage error") {
  Run r = runGptc("compile models/chargpt.graph --set L=1 --pipeline train");
  CHECK_MESSAGE(r.code == 0, r.err);
  Run e = runGptc("compile models/chargpt.graph --pipeline bogus");
  CHECK(e.code == 2);
  CHECK(e.errLines() == 1);
  CHECK(e.err.find("unknown pipeline 'bogus'") != std::string::npos);
}

TEST_CASE("--memory-budget: the summary says the budget, the plan, the extra FLOPs, what was "
          "recomputed; the dump names the clones") {
  const std::string m = "compile models/chargpt.graph --set L=2 --set B=4 --set T=64 --train ";
  Run none = runGptc(m + "--memory-budget sweep");
  REQUIRE_MESSAGE(none.code == 0, none.err);
  CHECK(none.out.find("memory budget sweep: planned") != std::string::npos);
  Run svg = runGptc(m + "--memory-budget sweep --emit=remat-svg");
  REQUIRE(svg.code == 0);
  CHECK(svg.out.rfind("<svg", 0) == 0);
  CHECK(svg.out.find("<polyline") != std::string::npos);
  Run r = runGptc(m + "--memory-budget 30MiB");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK(r.out.find("memory budget 30.0 MiB: planned") != std::string::npos);
  CHECK(r.out.find("extra FLOPs") != std::string::npos);
  Run dump = runGptc(m + "--memory-budget 30MiB --emit=graph");
  REQUIRE(dump.code == 0);
  CHECK(dump.out.find("%remat.") != std::string::npos);
  Run plain = runGptc(m + "--emit=graph");
  CHECK(plain.out.find("%remat.") == std::string::npos);
}

TEST_CASE("--memory-budget below every plan: the hint names the fused LM head until it is on") {
  Run plain = runGptc("compile models/chargpt.graph --set L=1 --train --memory-budget 1KiB");
  CHECK(plain.code == 2);
  CHECK(plain.err.find("the smallest plan recomputation reaches is") != std::string::npos);
  CHECK(plain.err.find("--fused-lm-head can go lower") != std::string::npos);
  CHECK(plain.errLines() == 1);
  Run head = runGptc("compile models/chargpt.graph --set L=1 --train --memory-budget 1KiB "
                     "--fused-lm-head");
  CHECK(head.code == 2);
  CHECK(head.err.find("the smallest plan recomputation reaches is") != std::string::npos);
  CHECK(head.err.find("--fused-lm-head") == std::string::npos);
}

TEST_CASE("usage errors: one line on stderr, exit code 2") {
  struct Case {
    const char* args;
    const char* says;
  } cases[] = {
      {"compile models/gpt2.graph --no-such-flag", "--no-such-flag"},
      {"compile", "model"},
      {"compile models/missing.graph", "models/missing.graph"},
      {"compile models/gpt2.graph --set L", "expected NAME=VALUE"},
      {"compile models/gpt2.graph --set L=abc", "--set L=abc"},
      {"compile models/gpt2.graph --set nope=1", "no constant 'nope'"},
      {"compile models/gpt2.graph --batch 0", "--batch"},
      {"compile models/gpt2.graph --emit=pdf", "--emit"},
      {"compile models/gpt2.graph --print-ir-after=simplfy", "unknown pass 'simplfy'"},
      {"compile models/gpt2.graph --print-ir-before=cse,bogus", "unknown pass 'bogus'"},
      {"compile models/gpt2.graph --disable-pass=nope", "unknown pass 'nope'"},
      {"compile models/gpt2.graph --stop-after=nope", "unknown pass 'nope'"},
      {"compile models/gpt2.graph --ir-dump-dir=/proc/gptc/x", "--ir-dump-dir"},
      {"compile models/gpt2.graph --memory-budget 3XB", "expected a size"},
      {"compile models/chargpt.graph --set L=1 --train --memory-budget 1KiB",
       "the smallest plan recomputation reaches is"},
      {"frobnicate", "unknown command"},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.args));
    Run r = runGptc(c.args);
    CHECK(r.code == 2);
    CHECK(r.errLines() == 1);
    CHECK_MESSAGE(r.err.find(c.says) != std::string::npos, r.err);
    CHECK(r.out.empty());
  }
}

TEST_CASE("IR errors: the Diag rendering with line and caret, exit code 2") {
  fs::path bad = writeModel("bad.graph", "input x : f32[2, 3]\ninput y : f32[4]\n"
                                         "output z = add(x, y)\n");
  Run r = runGptc("compile " + bad.string());
  CHECK(r.code == 2);
  CHECK(r.err.find(bad.string() + ":3:12: error:") != std::string::npos);
  CHECK(r.err.find("  output z = add(x, y)\n") != std::string::npos);
  CHECK(r.err.find("^") != std::string::npos);
  fs::path syntax = writeModel("syntax.graph", "input x : f32[2\n");
  Run s = runGptc("compile " + syntax.string());
  CHECK(s.code == 2);
  CHECK(s.err.find(syntax.string() + ":1:") != std::string::npos);
}

TEST_CASE("--disable-pass warns when a later pass needs it; --stop-after stops") {
  Run r = runGptc("compile models/gpt2.graph --set L=1 --disable-pass=expand");
  CHECK(r.code == 0);
  CHECK(r.err.find("warning: --disable-pass=expand: pass 'infer-shapes' needs it") !=
        std::string::npos);
  Run s = runGptc("compile models/gpt2.graph --set L=1 --stop-after=infer-shapes");
  CHECK(s.code == 0);
  CHECK(s.out.find("expand -> infer-shapes\n") != std::string::npos);
}

TEST_CASE("gptc run --generate without --init samples from the main job's checkpoint") {
  // The README's pair: `gptc run --train` writes out/chargpt/model.ckpt, then
  // `gptc run --generate --prompt "ROMEO:"` finds it. Run in a scratch folder with its own out/.
  const fs::path root = fs::current_path();
  const fs::path dir = scratch() / "generate_default";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string model = "'" + (root / "models/chargpt.graph").string() + "'";
  const std::string inDir = "cd '" + dir.string() + "' && '" + GPTC_BINARY_DIR + "/tools/gptc' ";

  auto inScratch = [&](const std::string& args) {
    return cli_test::runShell(inDir + args, dir / "out.txt", dir / "err.txt");
  };

  Run missing = inScratch("run " + model + " --generate --prompt ROMEO:");
  CHECK(missing.code == 2);
  CHECK(missing.errLines() == 1);
  CHECK_MESSAGE(missing.err.find("gptc run --train") != std::string::npos, missing.err);

  Run train =
      inScratch("run --train " + model +
                " --steps 2 --val-every 0 --sample 0 -n 0 --set L=1 C=32 NH=2 -b 2 -t 8 --data '" +
                (root / "data/tinyshakespeare.txt").string() + "' -o out/chargpt");
  REQUIRE_MESSAGE(train.code == 0, train.err);
  REQUIRE(fs::exists(dir / "out/chargpt/model.ckpt"));

  Run gen = inScratch("run " + model + " --generate --prompt ROMEO: -n 5 --seed 1");
  CHECK_MESSAGE(gen.code == 0, gen.err);
  CHECK_MESSAGE(gen.err.find("out/chargpt/model.ckpt") != std::string::npos, gen.err);
  CHECK(gen.out.rfind("ROMEO:", 0) == 0);
  CHECK(gen.out.size() >= std::string("ROMEO:").size() + 5);
}
