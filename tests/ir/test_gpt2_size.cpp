// GPT-2 124M through the IR: the parameter count must be llm.c's (124,475,904 with the vocabulary
// padded to 50304 rows), the op count is pinned so a change to the model or the expander shows up
// here first, and expand + print + re-parse stays well under a second.
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir_test_util.h"

#include <ctime>
#include <doctest/doctest.h>

using namespace gptc;
using namespace gptc::irtest;

TEST_CASE("GPT-2 124M: parameter count, op count, and parse + print + re-parse time") {
  std::string path = sourcePath("models/gpt2.graph");
  std::string text = readFile(path);
  // CPU time, not wall time: the test machines are shared, and it is our work that must be fast.
  std::clock_t start = std::clock();
  Graph g = mustParse(text, path);
  std::string printed = printGraph(g);
  Graph again = mustParse(printed, "gpt2.dump");
  double seconds = double(std::clock() - start) / CLOCKS_PER_SEC;

  int64_t params = 0;
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Param) params += v.type.numel();
  CHECK(params == 124475904);

  // 3 ops before the layers (embedding, the position slice, their add), 33 per layer (12 selects of
  // stacked parameters + 21 compute ops, counting the slice feeding each split_heads), 3 after
  // (layernorm, logits, loss). Changes when gpt2.graph or the expander's select naming changes;
  // recount with printGraph (its header line gives the op count).
  CHECK(g.numOps() == 3 + 12 * 33 + 3);
  CHECK(again.numOps() == g.numOps());
  MESSAGE("GPT-2 124M: " << g.numOps() << " ops, " << params
                         << " parameters, parse + print + re-parse " << seconds * 1000 << " ms ("
                         << printed.size() << " bytes printed)");
  // About 0.25 s in a Debug + ASan build, a few tens of ms in Release.
  CHECK(seconds < 1.0);
}
