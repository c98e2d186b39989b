// codegen/thread_count.cpp — the default thread count (see thread_count.h).
#include "codegen/thread_count.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace gptc {

std::optional<double> parseCgroupV2CpuMax(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  double period = 0;
  if (!(in >> quota)) return std::nullopt;
  if (quota == "max") return std::nullopt;
  if (!(in >> period)) period = 100000; // the kernel's default period
  char* end = nullptr;
  double q = std::strtod(quota.c_str(), &end);
  if (end == quota.c_str() || q <= 0 || period <= 0) return std::nullopt;
  return q / period;
}

std::optional<double> parseCgroupV1Quota(const std::string& quota, const std::string& period) {
  char* end = nullptr;
  double q = std::strtod(quota.c_str(), &end);
  if (end == quota.c_str() || q <= 0) return std::nullopt; // -1: no limit
  double p = std::strtod(period.c_str(), &end);
  if (end == period.c_str() || p <= 0) return std::nullopt;
  return q / p;
}

int threadsForQuota(double cpus) {
  // 1.5 CPUs: two threads still finish sooner than one (the quota is a time budget per period).
  return std::max(1, int(std::ceil(cpus - 1e-9)));
}

namespace {

std::string readFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return "";
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// The tightest CPU quota of this process's cgroup and its ancestors (v2), or of its cpu
/// controller's cgroup (v1); nullopt: none found.
std::optional<double> cgroupCpus(const std::string& root) {
  std::optional<double> best;
  auto take = [&](std::optional<double> c) {
    if (c && (!best || *c < *best)) best = c;
  };
  std::istringstream lines(readFile(root + "/proc/self/cgroup"));
  std::string line, v2path, v1path;
  while (std::getline(lines, line)) {
    // "0::/user.slice/x.scope" (v2) or "4:cpu,cpuacct:/docker/abc" (v1)
    size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2path = path;
    std::istringstream cs(controllers);
    for (std::string c; std::getline(cs, c, ',');)
      if (c == "cpu") v1path = path;
  }
  // v2: every ancestor's cpu.max limits us; inside a container the namespace root is ours.
  for (std::string p = v2path;; p = p.substr(0, p.rfind('/'))) {
    std::string text = readFile(root + "/sys/fs/cgroup" + p + "/cpu.max");
    if (!text.empty()) take(parseCgroupV2CpuMax(text));
    if (p.empty() || p == "/") break;
  }
  if (v2path.empty()) take(parseCgroupV2CpuMax(readFile(root + "/sys/fs/cgroup/cpu.max")));
  // v1
  for (const char* dir : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
    for (const std::string& p : {v1path, std::string()}) {
      std::string base = root + dir + p;
      std::string q = readFile(base + "/cpu.cfs_quota_us");
      if (!q.empty()) take(parseCgroupV1Quota(q, readFile(base + "/cpu.cfs_period_us")));
    }
  return best;
}

int positive(const char* s) {
  if (!s || !*s) return 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  return end != s && v > 0 && v < 4096 ? int(v) : 0;
}

} // namespace

int defaultThreadCountFrom(const std::string& root, int affinity, const char* envThreads) {
  if (int n = positive(envThreads)) return n;
  if (affinity <= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 0;
    if (affinity <= 0) affinity = int(std::max(1u, std::thread::hardware_concurrency()));
  }
  int n = affinity;
  if (std::optional<double> cpus = cgroupCpus(root)) n = std::min(n, threadsForQuota(*cpus));
  return std::max(1, n);
}

int defaultThreadCount() {
  static const int n = [] {
    const char* env = std::getenv("GPTC_THREADS");
    if (!positive(env)) env = std::getenv("OMP_NUM_THREADS");
    return defaultThreadCountFrom("", 0, env);
  }();
  return n;
}

} // namespace gptc
