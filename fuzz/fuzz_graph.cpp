// fuzz/fuzz_graph.cpp — the .graph language: parse + expand; a graph that parses must verify, and
// its printed dump must parse back to an equal graph that prints the same text.
#include "fuzz/fuzz_util.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return -1; // large inputs only slow the search down
  std::string text(reinterpret_cast<const char*>(data), size);
  gptc::Expected<gptc::Graph> g = gptc::parseGraph(text, "fuzz.graph");
  if (!g) {
    std::string rendered = g.error().render(); // must not crash, and is bounded
    if (rendered.size() > 4096)
      gptc::fuzz::fuzzFail("a diagnostic of " + std::to_string(rendered.size()) + " bytes");
    return 0;
  }
  if (std::string why = gptc::verifyGraph(*g); !why.empty())
    gptc::fuzz::fuzzFail("parsed but does not verify: " + why);
  std::string printed = gptc::printGraph(*g);
  gptc::Expected<gptc::Graph> again = gptc::parseGraph(printed, "fuzz.dump");
  if (!again) gptc::fuzz::fuzzFail("the dump does not parse: " + again.error().render());
  std::string why;
  if (!gptc::graphsEqual(*g, *again, &why)) gptc::fuzz::fuzzFail("round trip differs: " + why);
  if (gptc::printGraph(*again) != printed) gptc::fuzz::fuzzFail("printing is not a fixed point");
  return 0;
}
