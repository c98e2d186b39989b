// tools/trace_flags.cpp — see trace_flags.h.
#include "tools/trace_flags.h"

#include <CLI/CLI.hpp>

namespace gptc::tools {

void addTraceFlags(CLI::App& app, TraceFlags& f) {
  app.add_flag("--trace", f.trace,
               "write OUT/trace/step_N.txt: one training step explained (tokens, embeddings, one "
               "head's Q/K/V, scores, mask, softmax, loss, top-5 predictions, gradients, update "
               "sizes) and OUT/trace/*.svg attention heatmaps")
      ->group("Study");
  app.add_option("--trace-steps", f.steps, "0-based steps to trace, e.g. 0,100 (default 0)")
      ->delimiter(',')
      ->type_name("N[,N]")
      ->group("Study");
  app.add_option("--trace-layer", f.layer, "the layer whose attention is traced (default 0)")
      ->type_name("L")
      ->group("Study");
  app.add_option("--trace-head", f.head, "the head of that layer (default 0)")
      ->type_name("H")
      ->group("Study");
}

TraceSessionOptions traceSessionOptions(const TraceFlags& f, const std::string& outDir) {
  TraceSessionOptions o;
  o.trace.layer = f.layer;
  o.trace.head = f.head;
  o.steps = f.steps;
  o.outDir = outDir;
  return o;
}

} // namespace gptc::tools
