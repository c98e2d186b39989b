// passes/svg_memory.cpp — see svg_memory.h.
#include "passes/svg_memory.h"

#include "ir/html_escape.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {
namespace {

std::string mib(int64_t b) {
  if (b >= (int64_t(1) << 20)) return fmt::format("{:.1f} MiB", double(b) / (1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", double(b) / 1024);
  return fmt::format("{} B", b);
}

} // namespace

std::string memoryTimelineSvg(const Graph& g, const MemoryPlan& plan, const std::string& title,
                              int width, int height) {
  const int left = 80, right = 20, top = 40, bottom = 50;
  const double pw = width - left - right, ph = height - top - bottom;
  const int steps = std::max<int>(1, int(plan.schedule.size()));
  const double bytes = double(std::max<int64_t>(1, std::max(plan.arenaBytes, plan.lowerBound)));
  auto X = [&](double p) { return left + pw * p / steps; };
  auto Y = [&](double b) { return top + ph - ph * b / bytes; };

  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"20\" font-size=\"14\">{}</text>\n",
      width, height, width, height, left, htmlEscape(title));
  // Bars: one per arena storage owner, coloured by the part of the step (forward, backward,
  // update).
  int bars = 0;
  for (size_t v = 0; v < g.values.size(); ++v) {
    const ValuePlacement& pl = plan.placement[v];
    if (g.values[v].kind != ValueKind::Op || pl.region != Region::Arena || pl.viewOf >= 0) continue;
    const std::string& name = g.values[v].name;
    // Recomputed values (the remat pass's clones, %remat.<name>) in purple: memory bought back
    // with FLOPs.
    bool recomputed = name.rfind("remat.", 0) == 0;
    const char* fill = recomputed                                                ? "#9c6ade"
                       : name.rfind("d.", 0) == 0 || name.rfind("grad.", 0) == 0 ? "#f4a259"
                       : name.find(".new") != std::string::npos || name.rfind("g.", 0) == 0
                           ? "#7fb069"
                           : "#5b8fd6";
    int end = std::max(pl.liveStart, pl.liveEnd);
    double x0 = X(pl.liveStart), x1 = X(end + 1);
    double y0 = Y(double(pl.offset + pl.bytes)), y1 = Y(double(pl.offset));
    out += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" "
                       "fill=\"{}\" fill-opacity=\"0.75\" stroke=\"#333\" stroke-width=\"0.3\">"
                       "<title>%{} {} at +{:#x}, live [{}, {}]{}</title></rect>\n",
                       x0, y0, std::max(0.5, x1 - x0), std::max(0.5, y1 - y0), fill,
                       htmlEscape(name), mib(pl.bytes), pl.offset, pl.liveStart, end,
                       recomputed ? " (recomputed in the backward)" : "");
    ++bars;
  }
  // Axes.
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", left,
                     top + ph, left + pw, top + ph);
  out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", left,
                     top, left, top + ph);
  for (int i = 0; i <= 4; ++i) {
    double b = bytes * i / 4;
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", left - 4,
                       Y(b) + 4, mib(int64_t(b)));
    int p = steps * i / 4;
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", X(p),
                       top + ph + 14, p);
  }
  out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">schedule position (op "
                     "number); {} arena buffers</text>\n",
                     left + pw / 2, height - 12, bars);
  // The arena's size and the lower bound.
  out += fmt::format("<line x1=\"{}\" y1=\"{:.2f}\" x2=\"{}\" y2=\"{:.2f}\" stroke=\"black\" "
                     "stroke-dasharray=\"6,3\"/><text x=\"{}\" y=\"{:.2f}\">arena "
                     "{}</text>\n",
                     left, Y(double(plan.arenaBytes)), left + pw, Y(double(plan.arenaBytes)),
                     left + 6, Y(double(plan.arenaBytes)) - 3, mib(plan.arenaBytes));
  out += fmt::format("<line x1=\"{}\" y1=\"{:.2f}\" x2=\"{}\" y2=\"{:.2f}\" stroke=\"#c62828\" "
                     "stroke-dasharray=\"2,2\"/>\n",
                     left, Y(double(plan.lowerBound)), left + pw, Y(double(plan.lowerBound)));
  if (plan.peakPosition >= 0) {
    double px = X(plan.peakPosition + 0.5);
    out += fmt::format("<line x1=\"{:.2f}\" y1=\"{}\" x2=\"{:.2f}\" y2=\"{}\" stroke=\"#c62828\" "
                       "stroke-width=\"1.5\"/><text x=\"{:.2f}\" y=\"{}\" fill=\"#c62828\" "
                       "text-anchor=\"middle\">peak at op {}: {} live (lower bound)</text>\n",
                       px, top, px, top + ph, std::clamp(px, left + 120.0, left + pw - 120.0),
                       top - 4, plan.peakPosition, mib(plan.lowerBound));
  }
  out += "</svg>\n";
  return out;
}

} // namespace gptc
