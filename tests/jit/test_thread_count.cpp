// tests/jit/test_thread_count.cpp — the default thread count (codegen/thread_count.h): cgroup v2
// cpu.max and v1 cfs quota files parsed, the quota rounded up to threads, the tightest of the
// affinity mask and every quota on the way to the root taken, OMP_NUM_THREADS/GPTC_THREADS first.
#include "codegen/thread_count.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace gptc {
namespace {

namespace fs = std::filesystem;

/// A fake root with /proc/self/cgroup and cgroup files, removed at the end.
struct FakeRoot {
  fs::path dir;
  FakeRoot() {
    dir = fs::temp_directory_path() /
          ("gptc_cgroup_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(dir);
  }
  ~FakeRoot() { fs::remove_all(dir); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  void write(const std::string& rel, const std::string& text) {
    fs::path p = dir / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string root() const { return dir.string(); }
};

TEST_CASE("thread count: cgroup v2 cpu.max") {
  CHECK(parseCgroupV2CpuMax("200000 100000\n").value() == doctest::Approx(2.0));
  CHECK(parseCgroupV2CpuMax("150000 100000").value() == doctest::Approx(1.5));
  CHECK(parseCgroupV2CpuMax("50000").value() == doctest::Approx(0.5)); // default period
  CHECK_FALSE(parseCgroupV2CpuMax("max 100000\n"));
  CHECK_FALSE(parseCgroupV2CpuMax(""));
  CHECK_FALSE(parseCgroupV2CpuMax("garbage 100000"));
  CHECK_FALSE(parseCgroupV2CpuMax("0 100000"));
}

TEST_CASE("thread count: cgroup v1 cfs quota") {
  CHECK(parseCgroupV1Quota("300000\n", "100000\n").value() == doctest::Approx(3.0));
  CHECK_FALSE(parseCgroupV1Quota("-1\n", "100000\n"));
  CHECK_FALSE(parseCgroupV1Quota("100000", ""));
  CHECK_FALSE(parseCgroupV1Quota("", "100000"));
}

TEST_CASE("thread count: a quota rounds up to whole threads") {
  CHECK(threadsForQuota(0.2) == 1);
  CHECK(threadsForQuota(1.0) == 1);
  CHECK(threadsForQuota(1.5) == 2);
  CHECK(threadsForQuota(2.0) == 2);
}

TEST_CASE("thread count: the tightest of affinity and the quotas") {
  {
    FakeRoot r; // no cgroup files at all: the affinity mask
    CHECK(defaultThreadCountFrom(r.root(), 8, nullptr) == 8);
  }
  {
    FakeRoot r; // v2, quota on an ancestor of our cgroup
    r.write("proc/self/cgroup", "0::/user.slice/job.scope\n");
    r.write("sys/fs/cgroup/user.slice/job.scope/cpu.max", "max 100000\n");
    r.write("sys/fs/cgroup/user.slice/cpu.max", "250000 100000\n");
    CHECK(defaultThreadCountFrom(r.root(), 16, nullptr) == 3);
    CHECK(defaultThreadCountFrom(r.root(), 2, nullptr) == 2); // affinity tighter
  }
  {
    FakeRoot r; // v2 inside a container: the namespace root is our cgroup
    r.write("proc/self/cgroup", "0::/\n");
    r.write("sys/fs/cgroup/cpu.max", "100000 100000\n");
    CHECK(defaultThreadCountFrom(r.root(), 64, nullptr) == 1);
  }
  {
    FakeRoot r; // v1
    r.write("proc/self/cgroup", "5:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n");
    r.write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n");
    r.write("sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
    CHECK(defaultThreadCountFrom(r.root(), 32, nullptr) == 2);
  }
  {
    FakeRoot r; // the environment wins, even over a quota
    r.write("sys/fs/cgroup/cpu.max", "100000 100000\n");
    CHECK(defaultThreadCountFrom(r.root(), 4, "6") == 6);
    CHECK(defaultThreadCountFrom(r.root(), 4, "nonsense") == 1); // ignored: the quota
  }
  CHECK(defaultThreadCount() >= 1);
}

} // namespace
} // namespace gptc
