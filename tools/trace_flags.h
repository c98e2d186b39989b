// tools/trace_flags.h — the study flags of `gptc run --train`: --trace, --trace-steps,
// --trace-layer, --trace-head (runtime/trace_session.h does the work).
//
// What it leaves to others: the training command (tools/cmd_train.cpp) calls these.
#pragma once
#include "runtime/trace_session.h"

#include <cstdint>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace gptc::tools {

struct TraceFlags {
  bool trace = false;
  std::vector<int64_t> steps = {0};
  int layer = 0, head = 0;
};

void addTraceFlags(CLI::App& app, TraceFlags& flags);

/// The session options, files under `outDir`/trace/.
TraceSessionOptions traceSessionOptions(const TraceFlags& flags, const std::string& outDir);

} // namespace gptc::tools
