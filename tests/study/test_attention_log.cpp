// tests/study/test_attention_log.cpp — the attention log as a user makes it: `gptc run
// models/attention_log.graph --train --trace` (the built binary, one step, the model's own data
// file and word vocabulary) writes a log whose sections are those of the study notes' attention
// log, checked with `# CHECK:` lines (tests/passes/check_matcher.h): the words and their ids, the
// embedding and its sqrt(d) scale, Q/K/V, the 9x9 scores before and after the causal mask, softmax
// rows that sum to 1, the loss to 6 decimals against ln 13, top-5 predictions as words, the
// gradients of wte, wq, wk and wout, and the embedding table after the update.
#include "tests/cli/cli_test_util.h"
// The matcher is built into test_passes only (tests/CMakeLists.txt makes one binary per folder):
// this binary compiles its one source file here.
#include "tests/passes/check_matcher.cpp"

#include <doctest/doctest.h>

namespace {

namespace fs = std::filesystem;

const char* kChecks = R"(
# CHECK: gptc trace — step 0
# CHECK: == 1. tokens (%tokens [4,9], row 0: 9 of 9 positions)
# CHECK-COUNT-9: {{^ +[0-8] +[0-9]+  '[a-z.]+' +-> +[0-9]+ '[a-z.]+'$}}
# CHECK: as text: '{{[a-z. ]+}}'
# CHECK: == 2. embedding and positions
# CHECK: %emb = embedding(tokens, wte)  [4,9,64]
# CHECK: positions: %{{[0-9]+}} [9,64]
# CHECK: = scale(%emb) {s = 8}  [4,9,64]: the embedding times sqrt(C) = sqrt(64) = 8
# CHECK-NEXT: mean
# CHECK: %x = scaled embedding + positions [4,9,64]
# CHECK: == 3. layer 0 head 0: Q, K, V (%q.0, %k.0, %v.0 are [4,1,9,64]; head 0 is [T=9, hd=64])
# CHECK: Q  mean
# CHECK: K  mean
# CHECK: V  mean
# CHECK: == 4. scores = Q K^T * 0.125 (1/sqrt(hd)): %att.0, before the mask
# CHECK-NEXT: row = query position
# CHECK-COUNT-9: {{^ +'[a-z.]+'( +-?[0-9]+\.[0-9]{4}){9}$}}
# CHECK: == 5. after the causal mask
# CHECK-NEXT: {{^ +'[a-z.]+' +-?[0-9]+\.[0-9]{4}( +-inf){8}$}}
# CHECK: == 6. softmax weights
# CHECK-NEXT: {{^ +'[a-z.]+' +1\.0000( +0\.0000){8}  \| sum 1\.000000$}}
# CHECK-COUNT-8: | sum {{(1\.000000|0\.999999)}}
# CHECK-NEXT: above the diagonal: 36 of 36 weights are exactly 0
# CHECK: == 7. loss and the next-token predictions
# CHECK-NEXT: %loss = {{[0-9]+\.[0-9][0-9][0-9][0-9][0-9][0-9]}} (mean cross-entropy in nats; uniform guessing over 13 tokens would give ln 13 = 2.5649)
# CHECK-NEXT: top-5
# CHECK-COUNT-9: {{'[a-z.]+' [01]\.[0-9]{3}   target '[a-z.]+' [01]\.[0-9]{3}$}}
# CHECK: == 8. gradients
# CHECK: {{^  wte +\[13,64\]}}
# CHECK: {{^  wq +\[2,64,64\]}}
# CHECK: {{^  wk +\[2,64,64\]}}
# CHECK: {{^  wout +\[13,64\]}}
# CHECK: == 9. the embedding table %wte [13,64] after the update
# CHECK-NEXT: before  mean
# CHECK-NEXT: after   mean
# CHECK-NEXT: change  mean
# CHECK-NEXT: {{^  [0-9]+ of 13 rows changed$}}
)";

} // namespace

TEST_CASE("gptc run models/attention_log.graph --train --trace: the attention log, section by "
          "section") {
  static const fs::path dir = cli_test::makeScratch("gptc_attention_log_test_");
  cli_test::Run r = cli_test::runGptcIn(
      dir, "run models/attention_log.graph --train --trace --steps 1 --seed 7 --sample 0 "
           "--val-every 0 -n 0 --threads 2 -o " +
               cli_test::q(dir / "run"));
  REQUIRE_MESSAGE(r.code == 0, (r.out + r.err));
  // The model card's data file and word vocabulary.
  CHECK(r.says("data    data/attention_log.txt:"));
  CHECK(r.says("vocabulary 13"));
  CHECK(cli_test::slurp(dir / "run" / "vocab.words").rfind(".\na\nand\ncat\n", 0) == 0);
  const std::string log = cli_test::slurp(dir / "run" / "trace" / "step_0.txt");
  REQUIRE(!log.empty());
  std::string bad = gptc::test::runChecks(kChecks, "test_attention_log.cpp", log);
  CHECK_MESSAGE(bad.empty(), bad << "\n--- the log ---\n" << log);
}
