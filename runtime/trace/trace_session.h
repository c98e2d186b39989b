// runtime/trace/trace_session.h — tracing inside a training run (gptc run --train --trace): which
// steps to trace, where the files go, and the two calls the training loop makes around a step. For
// each traced step it writes OUT/trace/step_N.txt (the log, runtime/trace/trace.h) and one
// attention heatmap per head of the traced layer, OUT/trace/step_N_layer_L_head_H.svg.
//
// What it leaves to others: the log itself (trace.h), the loop (runtime/train/trainer.h), the flags
// (tools/trace_flags.h).
#pragma once

#include "runtime/trace/trace.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gptc {

struct TraceSessionOptions {
  TraceOptions trace;
  std::vector<int64_t> steps = {0}; ///< 0-based steps to trace (0 = the first batch)
  std::string outDir;               ///< files go to outDir/trace/
};

class TraceSession {
public:
  /// Finds the trace points in the training graph (before it is compiled). nullptr and *err (one
  /// line) when the graph cannot be traced.
  static std::unique_ptr<TraceSession> create(const Graph& trainGraph, TraceSessionOptions options,
                                              TokenText text, std::string* err);
  /// The values the memory plan must keep (PlanOptions::observe).
  std::vector<std::string> observedValues() const { return gptc::observedValues(tracer_.points()); }
  /// Call before running step `step` (0-based); copies the params when the step is traced.
  std::string before(const StepEngine& engine, int64_t step);
  /// Call after the step ran. "" when the step is not traced; else one line saying what was
  /// written (or why writing failed).
  std::string after(const StepEngine& engine, int64_t step);
  /// The files written so far.
  const std::vector<std::string>& files() const { return files_; }

private:
  TraceSession(Tracer tracer, TraceSessionOptions options, TokenText text)
      : tracer_(std::move(tracer)), options_(std::move(options)), text_(std::move(text)) {}
  bool traced(int64_t step) const;
  Tracer tracer_;
  TraceSessionOptions options_;
  TokenText text_;
  std::vector<std::string> files_;
};

} // namespace gptc
