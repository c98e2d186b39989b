// codegen/thread_count.h — how many threads this process should use by default: what its CPU
// affinity mask and its cgroup CPU quota (containers, systemd slices) allow, not the number of
// cores in the machine. A process limited to 1.5 CPUs that starts one thread per core of a
// 64-core host spends most of its time descheduled at barriers.
//
// What it leaves to others: the threads themselves (codegen/thread_team.h).
#pragma once

#include <optional>
#include <string>

namespace gptc {

/// CPUs a cgroup v2 `cpu.max` line allows ("200000 100000" → 2.0; "max 100000" → none).
std::optional<double> parseCgroupV2CpuMax(const std::string& text);
/// CPUs a cgroup v1 quota allows (cpu.cfs_quota_us, cpu.cfs_period_us; quota -1 → none).
std::optional<double> parseCgroupV1Quota(const std::string& quota, const std::string& period);
/// The threads a CPU quota supports: ceil(cpus), at least 1.
int threadsForQuota(double cpus);

/// The default thread count: GPTC_THREADS or OMP_NUM_THREADS when set (a positive number), else
/// min(CPUs in this process's affinity mask, the cgroup CPU quota rounded up), at least 1.
/// Computed once.
int defaultThreadCount();
/// The same, with the environment variables, affinity and cgroup files read from `root` (tests):
/// root + "/sys/fs/cgroup/cpu.max" etc.; affinity <= 0: sched_getaffinity.
int defaultThreadCountFrom(const std::string& root, int affinity, const char* envThreads);

} // namespace gptc
