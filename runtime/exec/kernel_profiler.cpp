// runtime/exec/kernel_profiler.cpp — per-call timing through the kernel hooks, and the table by
// kind (see kernel_profiler.h).
#include "runtime/exec/kernel_profiler.h"

#include "passes/stats.h"

#include <algorithm>
#include <fmt/format.h>
#include <limits>
#include <map>

namespace gptc {

KernelProfiler::KernelProfiler(Executable& exe) : exe_(&exe) {
  ok_ = exe.setKernelHook(&KernelProfiler::hook, this);
  perCall_.assign(exe.compiled().calls().size(), 0.0);
  bestCall_.assign(perCall_.size(), std::numeric_limits<double>::infinity());
}

KernelProfiler::~KernelProfiler() {
  detach();
}

void KernelProfiler::detach() {
  if (exe_ && ok_) exe_->setKernelHook(nullptr, nullptr);
  exe_ = nullptr;
}

void KernelProfiler::reset() {
  std::fill(perCall_.begin(), perCall_.end(), 0.0);
  std::fill(bestCall_.begin(), bestCall_.end(), std::numeric_limits<double>::infinity());
  steps_ = 0;
}

void KernelProfiler::hook(void* ctx, int32_t callIndex) {
  auto* self = static_cast<KernelProfiler*>(ctx);
  Clock::time_point now = Clock::now();
  if (callIndex < 0) {
    self->steps_++;
  } else if (size_t(callIndex) < self->perCall_.size()) {
    double dt = std::chrono::duration<double>(now - self->last_).count();
    self->perCall_[size_t(callIndex)] += dt;
    double& best = self->bestCall_[size_t(callIndex)];
    best = std::min(best, dt); // each call runs once a step: the min over steps
  }
  self->last_ = Clock::now(); // not `now`: the hook's own bookkeeping is not the next kernel's
}

std::vector<double> KernelProfiler::bestPerCall() const {
  std::vector<double> best = bestCall_;
  for (double& b : best)
    if (b == std::numeric_limits<double>::infinity()) b = 0;
  return best;
}

std::vector<KernelProfiler::Row> KernelProfiler::byKind() const {
  std::map<std::string, Row> rows;
  if (!exe_) return {};
  const Graph& g = exe_->graph();
  const std::vector<KernelCall>& calls = exe_->compiled().calls();
  const std::vector<double> best = bestPerCall();
  for (size_t i = 0; i < calls.size() && i < perCall_.size(); ++i) {
    const KernelCall& c = calls[i];
    std::string kind = c.updateCopy ? "update copy" : std::string(opName(c.kind));
    Row& r = rows[kind];
    r.kind = kind;
    r.seconds += perCall_[i];
    r.best += best[i];
    r.calls++;
    if (c.node >= 0) r.flops += nodeFlops(g, g.nodes[size_t(c.node)]);
  }
  std::vector<Row> out;
  for (auto& [k, r] : rows)
    out.push_back(r);
  std::stable_sort(out.begin(), out.end(),
                   [](const Row& a, const Row& b) { return a.seconds > b.seconds; });
  return out;
}

std::string KernelProfiler::table() const {
  std::vector<Row> rows = byKind();
  double total = 0, totalBest = 0;
  int64_t flops = 0, calls = 0;
  for (const Row& r : rows) {
    total += r.seconds;
    totalBest += r.best;
    flops += r.flops;
    calls += r.calls;
  }
  int n = std::max(steps_, 1);
  auto gflops = [&](int64_t f, double s) {
    return s > 0 && f > 0 ? fmt::format("{:8.1f}", double(f) * n / s / 1e9) : std::string(8, ' ');
  };
  std::string out = fmt::format("kernel profile, {} step{} (wall time per kernel call, barrier "
                                "included)\n",
                                steps_, steps_ == 1 ? "" : "s");
  out += fmt::format("  {:<22} {:>10} {:>9} {:>7} {:>8} {:>7}\n", "kind", "ms/step", "best ms",
                     "share", "GFLOP/s", "calls");
  for (const Row& r : rows)
    out +=
        fmt::format("  {:<22} {:>10.3f} {:>9.3f} {:>6.1f}% {} {:>7}\n", r.kind, r.seconds * 1e3 / n,
                    r.best * 1e3, total > 0 ? 100.0 * r.seconds / total : 0.0,
                    gflops(r.flops, r.seconds), r.calls);
  out += fmt::format("  {:<22} {:>10.3f} {:>9.3f} {:>6.1f}% {} {:>7}\n", "total", total * 1e3 / n,
                     totalBest * 1e3, 100.0, gflops(flops, total), calls);
  return out;
}

} // namespace gptc
