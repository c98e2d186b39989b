// Memory planning: trace replay for the placement core, the plan of every model, and a checker that
// must catch every wrong plan fed to it.
#include "ir/parser.h"
#include "passes/liveness.h"
#include "passes/memory_plan.h"
#include "passes/plan_memory.h"
#include "passes/schedule.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

using namespace gptc;
namespace fs = std::filesystem;

namespace {

struct Trace {
  std::vector<BufferInterval> intervals;
  std::vector<std::string> names;
  std::map<std::string, int64_t> expect;
};

Trace readTrace(const fs::path& path) {
  Trace t;
  std::ifstream in(path);
  std::map<std::string, int> open;
  int time = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string word, name;
    if (!(ls >> word) || word[0] == '#') continue;
    if (word == "alloc") {
      int64_t bytes = 0;
      ls >> name >> bytes;
      open[name] = int(t.intervals.size());
      t.intervals.push_back({alignUp(bytes), time, time});
      t.names.push_back(name);
    } else if (word == "free") {
      ls >> name;
      REQUIRE_MESSAGE(open.count(name), path.string() << ": free of unknown " << name);
      t.intervals[open[name]].end = time;
      open.erase(name);
    } else {
      int64_t v = 0;
      ls >> v;
      t.expect[word] = v;
    }
    ++time;
  }
  REQUIRE_MESSAGE(open.empty(), path.string() << ": buffers never freed");
  return t;
}

int64_t maxLive(const std::vector<BufferInterval>& iv) {
  int64_t best = 0;
  for (const auto& a : iv) {
    int64_t live = 0;
    for (const auto& b : iv)
      if (b.start <= a.start && a.start <= b.end) live += b.bytes;
    best = std::max(best, live);
  }
  return best;
}

Graph model(const std::string& file, ConstOverrides set = {}) {
  auto text = readTextFile(std::string(GPTC_SOURCE_DIR) + "/models/" + file);
  REQUIRE(text);
  auto g = parseGraph(*text, "models/" + file, set);
  REQUIRE_MESSAGE(g, g.error().render());
  return std::move(*g);
}

} // namespace

TEST_CASE("trace replay: placements are non-overlapping and as tight as stated") {
  int files = 0;
  for (const auto& entry :
       fs::directory_iterator(std::string(GPTC_SOURCE_DIR) + "/tests/memory/traces")) {
    Trace t = readTrace(entry.path());
    ++files;
    int64_t bound = maxLive(t.intervals);
    IntervalPlacement p = placeIntervals(t.intervals, bound);
    CAPTURE(entry.path().filename().string());
    REQUIRE(p.offsets.size() == t.intervals.size());
    for (size_t i = 0; i < t.intervals.size(); ++i) {
      CHECK(p.offsets[i] % kBufferAlign == 0);
      CHECK(p.offsets[i] + t.intervals[i].bytes <= p.bytes);
      for (size_t j = i + 1; j < t.intervals.size(); ++j) {
        const auto &a = t.intervals[i], &b = t.intervals[j];
        bool timeOverlap = a.start <= b.end && b.start <= a.end;
        bool byteOverlap =
            p.offsets[i] < p.offsets[j] + b.bytes && p.offsets[j] < p.offsets[i] + a.bytes;
        CHECK_MESSAGE(!(timeOverlap && byteOverlap), t.names[i] << " overlaps " << t.names[j]);
      }
    }
    CHECK(p.bytes >= bound);
    if (t.expect.count("expect-lower-bound")) CHECK(bound == t.expect["expect-lower-bound"]);
    if (t.expect.count("expect-arena")) CHECK(p.bytes == t.expect["expect-arena"]);
    if (t.expect.count("expect-arena-at-most")) CHECK(p.bytes <= t.expect["expect-arena-at-most"]);
    MESSAGE(entry.path().filename().string()
            << ": arena " << p.bytes << " bound " << bound << " via " << p.strategy);
  }
  CHECK(files >= 4);
}

TEST_CASE("every model's forward plan is within 5% of the lower bound and passes the checker") {
  for (std::string m : {"gpt2.graph", "chargpt.graph", "seq2seq.graph"}) {
    Graph g = model(m, m == "gpt2.graph" ? ConstOverrides{{"L", "2"}} : ConstOverrides{});
    MemoryPlan plan = planMemory(g);
    CAPTURE(m);
    CHECK(checkPlan(g, plan) == "");
    CHECK(plan.arenaBytes <= plan.lowerBound * 105 / 100);
    CHECK(plan.arenaBytes < plan.naiveBytes);
    MemoryPlan naive = naivePlan(g);
    CHECK(checkPlan(g, naive) == "");
    CHECK(naive.arenaBytes == naive.naiveBytes);
    MESSAGE(m << ": arena/bound " << double(plan.arenaBytes) / double(plan.lowerBound)
              << ", arena/naive " << double(plan.arenaBytes) / double(plan.naiveBytes));
  }
}

TEST_CASE("in-place reuse happens where an operand dies and is refused with a reason elsewhere") {
  auto g = parseGraph(R"(
input x : f32[4, 8]
param w : f32[8]
a = add(x, w)
b = gelu(a)
c = relu(b)
d = add(b, c)
output d
)",
                      "inplace.graph");
  REQUIRE(g);
  PlanOptions opts;
  opts.explain = true;
  MemoryPlan plan = planMemory(*g, opts);
  CHECK(checkPlan(*g, plan) == "");
  int a = g->find("a"), b = g->find("b"), c = g->find("c");
  CHECK(plan.placement[b].viewOf == a);  // gelu over a dead a
  CHECK(plan.placement[c].viewOf == -1); // b is still read by d
  bool explained = false;
  for (const auto& r : plan.refusedReuse)
    explained |= r.find("%c = relu") != std::string::npos;
  CHECK(explained);
  // x is an input: add(x, w) may not overwrite it
  CHECK(plan.placement[a].viewOf == -1);
}

TEST_CASE("the checker catches every kind of wrong plan") {
  Graph g = model("gpt2.graph", {{"L", "1"},
                                 {"V", "64"},
                                 {"Vp", "128"},
                                 {"C", "32"},
                                 {"NH", "2"},
                                 {"maxT", "16"},
                                 {"T", "8"},
                                 {"B", "2"}});
  const MemoryPlan good = planMemory(g);
  REQUIRE(checkPlan(g, good) == "");
  auto findArena = [&](auto pred) {
    for (size_t v = 0; v < g.values.size(); ++v)
      if (good.placement[v].region == Region::Arena && good.placement[v].viewOf < 0 && pred(int(v)))
        return int(v);
    return -1;
  };
  int first = findArena([](int) { return true; });
  REQUIRE(first >= 0);
  // a value live at the same time as `first`, with its own storage
  int other = findArena([&](int v) {
    const auto &a = good.placement[first], &b = good.placement[v];
    return v != first && a.liveStart <= b.liveEnd && b.liveStart <= a.liveEnd;
  });
  REQUIRE(other >= 0);

  SUBCASE("overlap of two live values") {
    MemoryPlan bad = good;
    bad.placement[other].offset = bad.placement[first].offset;
    CHECK(checkPlan(g, bad).find("overlaps") != std::string::npos);
  }
  SUBCASE("misaligned buffer") {
    MemoryPlan bad = good;
    bad.placement[first].offset += 4;
    CHECK(checkPlan(g, bad) != "");
  }
  SUBCASE("outside the arena") {
    MemoryPlan bad = good;
    bad.arenaBytes = bad.placement[first].offset + bad.placement[first].bytes - 64;
    CHECK(checkPlan(g, bad) != "");
  }
  SUBCASE("schedule out of order") {
    MemoryPlan bad = good;
    std::swap(bad.schedule[0], bad.schedule[bad.schedule.size() - 1]);
    CHECK(checkPlan(g, bad).find("before it is computed") != std::string::npos);
  }
  SUBCASE("duplicated op in the schedule") {
    MemoryPlan bad = good;
    bad.schedule[1] = bad.schedule[0];
    CHECK(checkPlan(g, bad) != "");
  }
  SUBCASE("in place over a value that is still read") {
    MemoryPlan bad = good;
    // make the embedding's result overwrite `x`'s input add: x (first add) is read later by the
    // layer
    int x = g.find("x"), h = g.find("h.0");
    REQUIRE(x >= 0);
    REQUIRE(h >= 0);
    bad.placement[h].viewOf = x;
    bad.placement[h].offset = bad.placement[x].offset;
    CHECK(checkPlan(g, bad).find("still read") != std::string::npos);
  }
  SUBCASE("wrong size") {
    MemoryPlan bad = good;
    bad.placement[first].bytes /= 2;
    CHECK(checkPlan(g, bad) != "");
  }
  SUBCASE("a parameter in the arena") {
    MemoryPlan bad = good;
    int wte = g.find("wte");
    bad.placement[wte].region = Region::Arena;
    CHECK(checkPlan(g, bad) != "");
  }
  SUBCASE("two parameters on the same bytes") {
    MemoryPlan bad = good;
    bad.placement[g.find("wpe")].offset = bad.placement[g.find("wte")].offset;
    CHECK(checkPlan(g, bad).find("overlaps") != std::string::npos);
  }
}

TEST_CASE("updates alias their state and are scheduled after every other reader") {
  auto g = parseGraph(R"(
input x : f32[4]
state m : f32[4] init zeros
param w : f32[4] init ones
y = mul(x, m)
m2 = add(m, w)
z = mul(y, m)
output z
update m = m2
)",
                      "update.graph");
  REQUIRE(g);
  MemoryPlan plan = planMemory(*g);
  CHECK(checkPlan(*g, plan) == "");
  int m = g->find("m"), m2 = g->find("m2"), z = g->find("z");
  CHECK(plan.placement[m2].region == Region::Persistent);
  CHECK(plan.placement[m2].offset == plan.placement[m].offset);
  // m2 overwrites m: it must run after z, the last other reader of m
  auto at = [&](int v) {
    for (size_t i = 0; i < plan.schedule.size(); ++i)
      if (plan.schedule[i] == g->values[v].def) return int(i);
    return -1;
  };
  CHECK(at(m2) > at(z));
  MemoryPlan naive = naivePlan(*g); // program order puts m2 before z: even naive must reorder
  CHECK(checkPlan(*g, naive) == "");
  MemoryPlan bad = naive;
  auto pos = [&](const MemoryPlan& p, int v) {
    for (size_t i = 0; i < p.schedule.size(); ++i)
      if (p.schedule[i] == g->values[v].def) return i;
    return size_t(0);
  };
  std::swap(bad.schedule[pos(bad, m2)], bad.schedule[pos(bad, z)]);
  CHECK(checkPlan(*g, bad).find("still read") != std::string::npos);
}

/// Each op result's position in scheduleForMemory's order (the memory-aware schedule alone).
static std::map<std::string, int> memorySchedule(const Graph& g) {
  StorageInfo s = analyzeViews(g);
  resolveRoots(s);
  std::vector<int> order = scheduleForMemory(g, s);
  REQUIRE(order.size() == g.nodes.size());
  std::map<std::string, int> at;
  for (size_t i = 0; i < order.size(); ++i)
    at[g.values[g.nodes[order[i]].result].name] = int(i);
  return at;
}

TEST_CASE("readers of an update's new value do not wait for it: AdamW's moments schedule") {
  // AdamW's shape: m2 is written over m (the alias), then read by the parameter update. Only the
  // readers of m's old bytes must precede m2's writer; counting readers of m2 (which shares m's
  // storage) as well made a cycle, and the scheduler silently fell back to program order, where
  // p2 would come before out, which still reads p's old bytes.
  auto g = parseGraph(R"(
input g : f32[64]
input x : f32[64]
state m : f32[64] init zeros
param p : f32[64] init ones
big = mul(x, x)
m2 = add(m, g)
p2 = add(p, m2)
out = add(big, p)
output out
update m = m2
update p = p2
)",
                      "adam.graph");
  REQUIRE(g);
  std::map<std::string, int> at = memorySchedule(*g);
  CHECK(at["m2"] < at["p2"]);  // the data edge
  CHECK(at["out"] < at["p2"]); // out reads p's old bytes: before p's update
  CHECK(checkPlan(*g, planMemory(*g)) == "");
}

TEST_CASE("a large result nobody reads yet is computed just before its first reader") {
  // `wide` (4096 floats) is ready at once, but only the last op reads it; computed early it would
  // sit beside `a`, `b`, `c`. The sink stage moves it down: the arena holds it only at the end.
  auto g = parseGraph(R"(
input x : f32[16]
input w : f32[4096]
wide = mul(w, w)
a = mul(x, x)
b = add(a, x)
c = mul(b, b)
out = add(wide, w)
s = add(c, x)
output out
output s
)",
                      "sink.graph");
  REQUIRE(g);
  std::map<std::string, int> at = memorySchedule(*g);
  CHECK(at["wide"] + 1 == at["out"]);
  CHECK(checkPlan(*g, planMemory(*g)) == "");
}
