// `gptc run --train` as a user meets it, through the built binary (issue #23): the sample at the
// end of a run is what `gptc run --generate` gives on the run's checkpoint with the same seed
// (one generation path: the KV-cache decode step); model.ckpt names the final step folder instead
// of holding the weights twice; and a catalogue of data/model vocabulary mismatches, each exit 2
// with one line on stderr, before anything compiles.
#include "tests/cli/cli_test_util.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;

namespace {

using cli_test::Run;
using cli_test::slurp;

fs::path scratch() {
  // Per process: test runs from several build folders at once must not share their files.
  static const fs::path d = cli_test::makeScratch("gptc_train_cli_test_");
  return d;
}

/// Runs `gptc <args>` from the repo root (tests run there), capturing both streams.
Run runGptc(const std::string& args) {
  return cli_test::runGptcIn(scratch(), args);
}

/// An llm.c token shard: the 1024-byte header (magic 20240520, version 1, count), then the ids.
fs::path writeShard(const std::string& name, const std::vector<uint16_t>& ids) {
  std::string bytes(1024, '\0');
  int32_t head[3] = {20240520, 1, int32_t(ids.size())};
  std::memcpy(bytes.data(), head, sizeof head);
  bytes.append(reinterpret_cast<const char*>(ids.data()), ids.size() * 2);
  fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

const std::string kTiny = "--set L=1 C=32 NH=2 -b 2 -t 8 --steps 2 --val-every 0 -n 0 --threads 2";

} // namespace

TEST_CASE("the trainer's sample is `gptc run --generate` on its checkpoint: same seed, same text") {
  const fs::path out = scratch() / "parity";
  Run train =
      runGptc("run --train models/chargpt.graph " + kTiny +
              " --sample 40 --seed 7 --temperature 0.9 --top-k 20 -o '" + out.string() + "'");
  REQUIRE_MESSAGE(train.code == 0, train.err);
  const std::string header = "sample  (temperature 0.90, top-k 20, seed 7)\n";
  size_t at = train.out.find(header);
  REQUIRE_MESSAGE(at != std::string::npos, train.out);
  const std::string trained = train.out.substr(at + header.size());
  CHECK(trained.size() == 1 + 40 + 1); // the prompt "\n", 40 characters, the line's end
  CHECK(train.out.find("recomputes") == std::string::npos); // chargpt has a decode step

  // The same checkpoint, seed, temperature and top-k through --generate (no --prompt: the same
  // "\n" the trainer starts from).
  Run gen = runGptc("run --generate --init '" + (out / "model.ckpt").string() +
                    "' -n 40 --seed 7 --temperature 0.9 --top-k 20 --threads 2");
  REQUIRE_MESSAGE(gen.code == 0, gen.err);
  CHECK(gen.out == trained);

  // model.ckpt holds the run card (with the model's source) and the name of the final step
  // folder, not the weights again.
  CHECK(fs::file_size(out / "model.ckpt") < 64 * 1024);
  CHECK(fs::exists(out / "checkpoints/step_00000002/model.bin"));
  CHECK(slurp(out / "model.ckpt").find("\nweights=checkpoints/step_00000002/model.bin\n") !=
        std::string::npos);
  // --init follows it too.
  Run init =
      runGptc("run --train models/chargpt.graph " + kTiny + " --sample 0 --init '" +
              (out / "model.ckpt").string() + "' -o '" + (scratch() / "init").string() + "'");
  CHECK_MESSAGE(init.code == 0, init.err);
  // A pointer whose step folder is gone: one line naming both.
  fs::remove_all(out / "checkpoints");
  Run dangling = runGptc("run --generate --init '" + (out / "model.ckpt").string() + "' -n 4");
  CHECK(dangling.code == 2);
  CHECK(dangling.errLines() == 1);
  CHECK_MESSAGE(dangling.err.find("step_00000002/model.bin, which is missing") != std::string::npos,
                dangling.err);
}

TEST_CASE("a sample longer than the context slides instead of failing") {
  // maxT = 16 positions; 40 characters: the context refills from its newest half.
  Run r = runGptc("run --train models/chargpt.graph " + kTiny + " --set maxT=16 --sample 40 -o '" +
                  (scratch() / "slide").string() + "'");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  size_t at = r.out.find("sample  (");
  REQUIRE(at != std::string::npos);
  std::string text = r.out.substr(r.out.find('\n', at) + 1);
  CHECK(text.size() == 1 + 40 + 1);
}

TEST_CASE("a model without a decode step samples by recomputation and says so") {
  // A bigram model: no attention, so the decode-step pass has nothing to cache.
  fs::path model = scratch() / "bigram.graph";
  std::ofstream(model) << "const V = 65, C = 16, B = 2, T = 8\n"
                          "input tokens : i32[B, T]\n"
                          "input targets : i32[B, T]\n"
                          "param wte : f32[V, C] init normal(0.02)\n"
                          "param head : f32[V, C] init normal(0.02)\n"
                          "output logits = matmul(embedding(tokens, wte), head) {tb = 1}\n"
                          "output loss = cross_entropy(logits, targets)\n";
  Run r = runGptc("run --train '" + model.string() +
                  "' --steps 2 --val-every 0 -n 0 --threads 2 --sample 20 -o '" +
                  (scratch() / "bigram").string() + "'");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  CHECK_MESSAGE(r.out.find("note    no KV-cache decode step for this model (") != std::string::npos,
                r.out);
  CHECK(r.out.find("recomputes the whole forward pass over the last 8 tokens") !=
        std::string::npos);
  size_t at = r.out.find("sample  (");
  REQUIRE(at != std::string::npos);
  CHECK(r.out.substr(r.out.find('\n', at) + 1).size() == 1 + 20 + 1);
}

// The catalogue: what a user types, the exit code, the one line on stderr.
TEST_CASE("the data's vocabulary against the model's V: exit 2, one line, before any compile") {
  // GPT-2 124M (V 50257, fixed by its file) on the default character data: the case. It
  // must fail at once: compiling GPT-2's training step alone takes far longer than this check.
  Run gpt2 = runGptc("run --train models/gpt2.graph --steps 1 -b 1 -t 1024");
  CHECK(gpt2.code == 2);
  CHECK(gpt2.out.empty());
  CHECK(gpt2.err ==
        "gptc run --train: data/tinyshakespeare.txt is text with 65 distinct characters but "
        "models/gpt2.graph's vocabulary is V = 50257: `gptc tokenize data/tinyshakespeare.txt -o "
        "NAME` for GPT-2 BPE tokens, then --data NAME_train.bin, or train on characters with "
        "--set V=65 Vp=65\n");

  // Too few ids for the text's characters.
  Run small = runGptc("run --train models/chargpt.graph " + kTiny + " --set V=40");
  CHECK(small.code == 2);
  CHECK(small.errLines() == 1);
  CHECK(small.err ==
        "gptc run --train: data/tinyshakespeare.txt is text with 65 distinct characters but "
        "models/chargpt.graph's vocabulary is V = 40: --set V=65, or `gptc tokenize "
        "data/tinyshakespeare.txt -o NAME` for GPT-2 BPE tokens, then --data NAME_train.bin with "
        "a BPE model (models/gpt2.graph)\n");

  // A shard with an id at or above V: its index and byte offset (1024-byte header, 2 per id).
  std::vector<uint16_t> ids(400, 3);
  ids[5] = 70;
  ids[9] = 300;
  fs::path shard = writeShard("ids_train.bin", ids);
  Run range =
      runGptc("run --train models/chargpt.graph " + kTiny + " --data '" + shard.string() + "'");
  CHECK(range.code == 2);
  CHECK(range.errLines() == 1);
  CHECK(range.out.empty());
  CHECK(range.err == "gptc run --train: " + shard.string() +
                         ": token id 70 at index 5 (byte offset 1034) is outside "
                         "models/chargpt.graph's vocabulary V = 65: --set V=301 (the largest id "
                         "is 300), or a model with GPT-2's vocabulary (models/gpt2.graph)\n");
  // The same shard with room for its ids trains.
  Run fits =
      runGptc("run --train models/chargpt.graph " + kTiny + " --set V=301 --sample 0 --data '" +
              shard.string() + "' -o '" + (scratch() / "fits").string() + "'");
  CHECK_MESSAGE(fits.code == 0, fits.err);
}
