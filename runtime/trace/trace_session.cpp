// runtime/trace/trace_session.cpp — see trace_session.h.
#include "runtime/trace/trace_session.h"

#include "runtime/formats/file_io.h"

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>

namespace gptc {

std::unique_ptr<TraceSession> TraceSession::create(const Graph& trainGraph,
                                                   TraceSessionOptions options, TokenText text,
                                                   std::string* err) {
  Expected<TracePoints> points = findTracePoints(trainGraph, options.trace);
  if (!points) {
    *err = points.error().message;
    return nullptr;
  }
  for (int64_t s : options.steps)
    if (s < 0) {
      *err = fmt::format("--trace-steps: steps count from 0, got {}", s);
      return nullptr;
    }
  return std::unique_ptr<TraceSession>(
      new TraceSession(Tracer(std::move(*points)), std::move(options), std::move(text)));
}

bool TraceSession::traced(int64_t step) const {
  return std::find(options_.steps.begin(), options_.steps.end(), step) != options_.steps.end();
}

std::string TraceSession::before(const StepEngine& engine, int64_t step) {
  if (!traced(step)) return "";
  return tracer_.before(engine);
}

std::string TraceSession::after(const StepEngine& engine, int64_t step) {
  if (!traced(step)) return "";
  namespace fs = std::filesystem;
  std::string dir = options_.outDir + "/trace";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fmt::format("trace: cannot create {}: {}", dir, ec.message());
  std::string log = tracer_.report(engine, step, text_);
  std::string path = fmt::format("{}/step_{}.txt", dir, step);
  if (IoStatus st = writeFileAtomic(path, log); !st) return "trace: " + st.error();
  files_.push_back(path);
  // One heatmap per head of the traced layer.
  Tensor probs, tokens;
  int heatmaps = 0;
  const TraceOptions& o = tracer_.points().options;
  if (tracer_.attention(engine, &probs).empty() &&
      engine.read(tracer_.points().tokens, &tokens).empty()) {
    const int64_t NH = probs.type.shape[1], T = probs.type.shape[3];
    std::vector<std::string> labels;
    for (int64_t t = 0; t < std::min<int64_t>(T, 64); ++t)
      labels.push_back(text_(tokens.i[int64_t(o.batchRow) * T + t]));
    for (int64_t h = 0; h < NH; ++h) {
      std::string svg = attentionHeatmapSvg(
          probs, o.batchRow, int(h), labels,
          fmt::format("step {}, layer {}, head {}: attention weights (row {} of the batch)", step,
                      o.layer, h, o.batchRow));
      std::string p = fmt::format("{}/step_{}_layer_{}_head_{}.svg", dir, step, o.layer, h);
      if (IoStatus st = writeFileAtomic(p, svg); !st) return "trace: " + st.error();
      files_.push_back(p);
      ++heatmaps;
    }
  }
  return fmt::format("trace   step {}: {} and {} attention heatmaps (layer {})", step, path,
                     heatmaps, o.layer);
}

} // namespace gptc
