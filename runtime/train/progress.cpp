// runtime/train/progress.cpp — the progress line, main.log and the SVG loss curve (see progress.h).
#include "runtime/train/progress.h"

#include "ir/html_escape.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

namespace gptc {

std::string formatStepLine(const StepReport& r) {
  std::string line = fmt::format("step {}/{} | loss {:.4f}", r.step, r.totalSteps, r.loss);
  if (r.valLoss) line += fmt::format(" | val {:.4f}", *r.valLoss);
  double tps = r.tokensPerSecond;
  std::string rate = tps >= 1e6   ? fmt::format("{:.2f}M", tps / 1e6)
                     : tps >= 1e3 ? fmt::format("{:.1f}k", tps / 1e3)
                                  : fmt::format("{:.0f}", tps);
  line += fmt::format(" | lr {:.1e} | norm {:.2f} | {:.0f} ms | {} tok/s", r.lr, r.gradNorm,
                      r.milliseconds, rate);
  return line;
}

IoResult<MainLog> MainLog::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ioError(path, std::strerror(errno));
  return MainLog(fd, path);
}

MainLog::MainLog(MainLog&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)), size_(other.size_) {
  other.fd_ = -1;
}

MainLog::~MainLog() {
  if (fd_ >= 0) ::close(fd_);
}

IoStatus MainLog::line(const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pwrite(fd_, text.data() + done, text.size() - done, size_ + int64_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : ENOSPC;
      // The part that did fit would read as a (wrong) record: cut it off again. Should that
      // fail too, the write's error is still the one to report.
      [[maybe_unused]] int cut = ::ftruncate(fd_, size_);
      return ioError(path_, std::strerror(err));
    }
    done += size_t(n);
  }
  size_ += int64_t(done);
  return {};
}

IoStatus MainLog::train(int64_t step, float loss) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "s:%lld trl:%f\n", static_cast<long long>(step), double(loss));
  return line(buf);
}

IoStatus MainLog::val(int64_t step, float loss) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "s:%lld tel:%f\n", static_cast<long long>(step), double(loss));
  return line(buf);
}

IoStatus MainLog::note(const std::string& text) {
  return line("# " + text + "\n");
}

namespace {

/// A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
double tickStep(double span, int count) {
  double raw = span / std::max(count, 1);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  double m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

} // namespace

std::string lossCurveSvg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& val,
                         const std::string& title) {
  const double W = 800, H = 480, left = 64, right = 24, top = 40, bottom = 48;
  double x0 = 0, x1 = 1, y0 = INFINITY, y1 = -INFINITY;
  for (const auto* pts : {&train, &val})
    for (const LossPoint& p : *pts)
      if (std::isfinite(p.loss)) {
        x1 = std::max(x1, double(p.step));
        y0 = std::min(y0, double(p.loss));
        y1 = std::max(y1, double(p.loss));
      }
  if (!(y0 <= y1)) y0 = 0, y1 = 1; // nothing finite to draw
  if (y1 - y0 < 1e-3) y0 -= 0.5, y1 += 0.5;
  double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  auto X = [&](double s) { return left + (s - x0) / (x1 - x0) * (W - left - right); };
  auto Y = [&](double l) { return top + (y1 - l) / (y1 - y0) * (H - top - bottom); };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n<text x=\"{}\" y=\"24\" font-size=\"15\">{}</text>\n",
      W, H, left, htmlEscape(title));
  double ys = tickStep(y1 - y0, 6);
  for (double v = std::ceil(y0 / ys) * ys; v <= y1; v += ys)
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
                       "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.2f}</text>\n",
                       left, W - right, Y(v), left - 6, Y(v) + 4, v);
  double xs = std::max(1.0, tickStep(x1 - x0, 8));
  for (double s = 0; s <= x1; s += xs)
    svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#ddd\"/>"
                       "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4:.0f}</text>\n",
                       X(s), top, H - bottom, H - bottom + 16, s);
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" "
                     "stroke=\"black\"/>\n",
                     left, top, W - left - right, H - top - bottom);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">step</text>\n",
                     (left + W - right) / 2, H - 10);
  svg += fmt::format("<text x=\"16\" y=\"{0}\" transform=\"rotate(-90 16 {0})\" "
                     "text-anchor=\"middle\">loss (nats/token)</text>\n",
                     (top + H - bottom) / 2);
  auto polyline = [&](const std::vector<LossPoint>& pts, const char* colour, const char* label,
                      int row) {
    std::string points;
    for (const LossPoint& p : pts)
      if (std::isfinite(p.loss)) points += fmt::format("{:.1f},{:.1f} ", X(p.step), Y(p.loss));
    if (points.empty()) return;
    svg +=
        fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n",
                    colour, points);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"{}\" text-anchor=\"end\">{} (last {:.4f})"
                       "</text>\n",
                       W - right - 8, top + 16 + 16 * row, colour, label, pts.back().loss);
  };
  polyline(train, "#1f77b4", "train", 0);
  polyline(val, "#ff7f0e", "val", 1);
  svg += "</svg>\n";
  return svg;
}

IoStatus writeLossCurveSvg(const std::string& path, const std::vector<LossPoint>& train,
                           const std::vector<LossPoint>& val, const std::string& title) {
  return writeFileAtomic(path, lossCurveSvg(train, val, title));
}

std::string formatDuration(double seconds) {
  if (!(seconds >= 0) || !std::isfinite(seconds)) return "?";
  auto t = static_cast<long long>(seconds + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, t / 60 % 60);
}

std::string progressBar(int64_t step, int64_t totalSteps, double etaSeconds) {
  constexpr int kCells = 40;
  double frac = totalSteps > 0 ? std::clamp(double(step) / double(totalSteps), 0.0, 1.0) : 0;
  int full = int(frac * kCells);
  return fmt::format("[{}{}] {:3d}% {}/{} eta {}", std::string(size_t(full), '#'),
                     std::string(size_t(kCells - full), '.'), int(frac * 100), step, totalSteps,
                     formatDuration(etaSeconds));
}

} // namespace gptc
