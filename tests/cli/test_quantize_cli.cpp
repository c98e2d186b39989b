// Quantized checkpoints (issue #19 item 2): `gptc quantize` writes bf16/int8 weights into a gptc
// checkpoint (version 2); `--generate --weights W` reads them as stored, and gives the same tokens
// as quantizing the f32 checkpoint at load; any other --weights reads them dequantized; a damaged
// quantized file is a one-line error like any checkpoint's. The built binary on a one-step chargpt.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;

fs::path scratch() {
  static const fs::path d = cli_test::makeScratch("gptc_quantize_cli_test_");
  return d;
}

Run gptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

/// Greedy tokens from `init` with `weights` (the text printed).
Run generate(const fs::path& init, const std::string& weights) {
  return gptc("run --generate --init " + cli_test::q(init) + " --weights " + weights +
              " --prompt ROMEO: -n 12 --greedy --threads 1");
}

} // namespace

TEST_CASE("gptc quantize: stored bf16/int8 weights, read as stored or dequantized") {
  const fs::path out = scratch() / "run";
  Run train = gptc("run --train --steps 1 --val-every 0 --val-batches 1 --sample 0 -n 0 --set "
                   "L=1 C=32 NH=2 -t 16 -b 2 -o " +
                   cli_test::q(out));
  REQUIRE_MESSAGE(train.code == 0, train.err);
  const fs::path f32 = out / "model.ckpt"; // a pointer to the step folder's weights
  for (std::string w : {"bf16", "int8"}) {
    CAPTURE(w);
    const fs::path qck = out / (w + ".ckpt"); // beside vocab.bin
    Run q = gptc("quantize " + cli_test::q(f32) + " -o " + cli_test::q(qck) + " --weights " + w);
    REQUIRE_MESSAGE(q.code == 0, q.err);
    CHECK(q.says("wrote " + qck.string()));
    // Smaller than the f32 weights it came from.
    const auto weightsFile = out / "checkpoints" / "step_00000001" / "model.bin";
    CHECK(fs::file_size(qck) < fs::file_size(weightsFile));

    // Stored == quantized at load (the same numbers), and the run card came along: no --model.
    Run atLoad = generate(f32, w), stored = generate(qck, w);
    REQUIRE_MESSAGE(atLoad.code == 0, atLoad.err);
    REQUIRE_MESSAGE(stored.code == 0, stored.err);
    CHECK(stored.out == atLoad.out);
    CHECK(stored.out.rfind("ROMEO:", 0) == 0);
    // Other weights: from the dequantized values.
    for (std::string other : {"f32", w == "int8" ? "bf16" : "int8"}) {
      Run r = generate(qck, other);
      CHECK_MESSAGE(r.code == 0, r.err);
    }
    // Back to f32 and quantized again at load: the same tokens as the stored ones for bf16
    // (rounding a bf16 number is the identity).
    if (w == "bf16") {
      const fs::path back = out / "back.ckpt";
      REQUIRE(gptc("quantize " + cli_test::q(qck) + " -o " + cli_test::q(back) + " --weights f32")
                  .code == 0);
      CHECK(generate(back, w).out == stored.out);
    }

    // Damaged: truncated, one flipped bit — one line each, naming the file, exit 2.
    const std::string bytes = cli_test::slurp(qck);
    const fs::path bad = out / "bad.ckpt";
    cli_test::writeBytes(bad, bytes.substr(0, bytes.size() - 100));
    Run cut = generate(bad, w);
    CHECK(cut.code == 2);
    CHECK_MESSAGE(cut.says(bad.string() + ": "), cut.err);
    CHECK_MESSAGE(cut.says("truncated"), cut.err);
    std::string flipped = bytes;
    flipped[bytes.size() / 2] = char(flipped[bytes.size() / 2] ^ 0x04);
    cli_test::writeBytes(bad, flipped);
    Run flip = generate(bad, w);
    CHECK(flip.code == 2);
    CHECK_MESSAGE(flip.says("checksum mismatch"), flip.err);
    CHECK(flip.errLines() == 1);
  }
  // Without a run card (a step folder's model.bin) the model must be named.
  Run noCard = gptc("quantize " + cli_test::q(out / "checkpoints" / "step_00000001" / "model.bin") +
                    " -o " + cli_test::q(scratch() / "x.ckpt") + " --weights int8");
  CHECK(noCard.code == 2);
  CHECK_MESSAGE(noCard.says("give --model"), noCard.err);
}
