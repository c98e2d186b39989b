// expand: the first pass. Wraps the expander (ir/expand.cpp): constants evaluated with the
// command-line overrides (--set, --batch, --seq), `repeat` unrolled, blocks inlined, every value
// typed and tied to its source line. The result replaces whatever graph the context held.
// What it leaves to others: the expansion rules themselves (ir/), the flag parsing (tools/options),
// and every clean-up (simplify, cse, dce) -- expand output is deliberately literal, one node per
// call in the source, so a dump after it reads like the model file.
#include "passes/pass_manager.h"

namespace gptc {

Expected<bool> runExpand(PassContext& ctx) {
  if (!ctx.program) return Diag{{}, "expand needs a parsed model (the context has none)"};
  Expected<Graph> g = expandProgram(*ctx.program, ctx.overrides);
  if (!g) {
    // A bad override is a command-line mistake, not a model one: report it on one line, naming
    // the model but not pointing into it (the expander locates it at the constant's declaration).
    const Diag& d = g.error();
    if (d.message.rfind("--set ", 0) == 0) return Diag{{ctx.program->file, 0, 0}, d.message, ""};
    return d;
  }
  ctx.graph = std::move(*g);
  return true;
}

} // namespace gptc
