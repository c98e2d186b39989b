// The collective ops (allreduce, reduce_scatter, all_gather) on 2 ranks, in the interpreter and the
// JIT (1 and 2 threads), against their definition; dropout's row0 against the single-process mask.
//
// ctest runs this binary as one process; a case that needs 2 ranks starts
// `mpirun --oversubscribe --allow-run-as-root -np 2 <this binary> -tc=<the case>` and checks its
// exit code. Under mpirun (OMPI_COMM_WORLD_SIZE set) the same case does the rank's work instead:
// a failed CHECK on any rank makes that rank exit non-zero, and mpirun with it.
#include "passes/memory_plan.h"
#include "runtime/exec/mpi_comm.h"
#include "tests/cli/cli_test_util.h"
#include "tests/jit/jit_test_util.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

using namespace gptc;

namespace {

/// Under mpirun: "" (the caller does the rank's work). Else runs this case on 2 ranks and checks
/// that they passed; returns "skip" so the caller stops.
std::string onTwoRanks(const char* testCase) {
  if (mpi::launchedRanks() > 1) {
    std::string e = mpi::init();
    REQUIRE_MESSAGE(e.empty(), e);
    REQUIRE(mpi::world().size == 2);
    return "";
  }
  static cli_test::fs::path scratch = cli_test::makeScratch("gptc_test_mpi_");
  std::string self = cli_test::fs::read_symlink("/proc/self/exe").string();
  cli_test::Run r = cli_test::runShell(
      // leak checking off for the ranks under ASan: Open MPI's allocations are not ours
      fmt::format("ASAN_OPTIONS=\"${{ASAN_OPTIONS:+$ASAN_OPTIONS:}}detect_leaks=0\" timeout 120 "
                  "mpirun --oversubscribe --allow-run-as-root -x ASAN_OPTIONS -np 2 {} -tc='{}'",
                  cli_test::q(self), testCase),
      scratch / "out", scratch / "err");
  INFO(r.out);
  INFO(r.err);
  CHECK(r.code == 0);
  return "skip";
}

/// Rank r's value at element i (exact in f32, so sums are exact in any order).
float valueAt(int rank, int64_t i) {
  return float((i * 7 + rank * 13) % 29) - 14.0f + 0.25f * rank;
}

Tensor rankTensor(int rank, const Shape& shape) {
  Tensor t(TensorType{DType::f32, shape});
  for (int64_t i = 0; i < t.numel(); ++i)
    t.f[i] = valueAt(rank, i);
  return t;
}

/// Runs `g` (one op `out` of input `x`) in the interpreter and the JIT with 1 and 2 threads;
/// checks each against `want` exactly.
void checkEverywhere(const Graph& g, const Tensor& x, const std::vector<float>& want) {
  std::map<std::string, Tensor> feeds{{"x", x}};
  std::map<std::string, Tensor> ref = jittest::interpret(g, feeds);
  CHECK(ref["out"].f == want);
  auto exe = jittest::build(g, naivePlan(g), feeds);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    auto out = jittest::execute(*exe, threads);
    CHECK(out["out"].f == want);
  }
}

} // namespace

TEST_CASE("collectives on 2 ranks: allreduce reduce_scatter all_gather") {
  if (!onTwoRanks("collectives on 2 ranks: allreduce reduce_scatter all_gather").empty()) return;
  const int rank = mpi::world().rank;
  const Shape shape{5, 7}; // 35 elements: reduce_scatter's slices are 18 and 17 (+1 zero)
  const int64_t n = 35, S = 18;
  Tensor x = rankTensor(rank, shape);

  SUBCASE("allreduce: the elementwise sum over the ranks") {
    Graph g;
    int in = g.addInput("x", x.type);
    g.outputs.push_back(g.add(OpKind::AllReduce, {in}, {}, {}, "out"));
    std::vector<float> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      want[size_t(i)] = valueAt(0, i) + valueAt(1, i);
    checkEverywhere(g, x, want);
  }
  SUBCASE("reduce_scatter: this rank's slice of the sum, zeros past the end") {
    Graph g;
    int in = g.addInput("x", x.type);
    int out = g.add(OpKind::ReduceScatter, {in}, {{"ranks", int64_t(2)}}, {}, "out");
    g.outputs.push_back(out);
    CHECK(g.type(out) == TensorType{DType::f32, {S}});
    std::vector<float> want(static_cast<size_t>(S), 0.0f);
    for (int64_t k = 0; k < S; ++k)
      if (int64_t i = rank * S + k; i < n) want[size_t(k)] = valueAt(0, i) + valueAt(1, i);
    checkEverywhere(g, x, want);
  }
  SUBCASE("all_gather: every rank's slice in rank order, cut to the shape") {
    Graph g;
    Tensor slice = rankTensor(rank, {S});
    int in = g.addInput("x", slice.type);
    int out = g.add(OpKind::AllGather, {in}, {{"ranks", int64_t(2)}, {"shape", shape}}, {}, "out");
    g.outputs.push_back(out);
    CHECK(g.type(out) == TensorType{DType::f32, shape});
    std::vector<float> want(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      want[size_t(i)] = valueAt(int(i / S), i % S);
    checkEverywhere(g, slice, want);
  }
  SUBCASE("the start-up check: equal texts pass, different ones fail on every rank") {
    CHECK(mpi::checkSameEverywhere("plan", "same").empty());
    std::string e = mpi::checkSameEverywhere("plan", rank == 0 ? "a" : "b");
    CHECK(e.find("rank 1 and rank 0 differ in their plan") != std::string::npos);
  }
}

TEST_CASE("collectives on 1 rank are copies") {
  if (mpi::launchedRanks() > 1) return;
  Tensor x = rankTensor(0, {3, 4});
  for (OpKind k : {OpKind::AllReduce, OpKind::ReduceScatter}) {
    Graph g;
    int in = g.addInput("x", x.type);
    Attrs a;
    if (k == OpKind::ReduceScatter) a["ranks"] = int64_t(1);
    g.outputs.push_back(g.add(k, {in}, a, {}, "out"));
    checkEverywhere(g, x, x.f);
  }
}

TEST_CASE("dropout with row0: the rows of the whole batch's mask") {
  // dropout of rows 2..3 of a [4,3,5] batch, given as a [2,3,5] tensor with row0 = 2, is the
  // bottom half of the whole batch's dropout: a rank's mask is the single process's.
  if (mpi::launchedRanks() > 1) return;
  Tensor whole = rankTensor(0, {4, 3, 5});
  Tensor half(TensorType{DType::f32, {2, 3, 5}});
  half.f.assign(whole.f.begin() + 30, whole.f.end());
  Graph gw, gh;
  Attrs a{{"p", 0.5}, {"salt", int64_t(3)}};
  int xw = gw.addInput("x", whole.type), sw = gw.addInput("seed", TensorType{DType::i32, {}});
  gw.outputs.push_back(gw.add(OpKind::Dropout, {xw, sw}, a, {}, "out"));
  int xh = gh.addInput("x", half.type), sh = gh.addInput("seed", TensorType{DType::i32, {}});
  int r0 = gh.addInput("row0", TensorType{DType::i32, {}});
  gh.outputs.push_back(gh.add(OpKind::Dropout, {xh, sh, r0}, a, {}, "out"));
  std::map<std::string, Tensor> fw{{"x", whole}, {"seed", Tensor::scalarI32(1234)}};
  std::map<std::string, Tensor> fh{
      {"x", half}, {"seed", Tensor::scalarI32(1234)}, {"row0", Tensor::scalarI32(2)}};
  std::vector<float> want(jittest::interpret(gw, fw)["out"].f);
  want.erase(want.begin(), want.begin() + 30);
  CHECK(std::count(want.begin(), want.end(), 0.0f) > 0);
  CHECK(jittest::interpret(gh, fh)["out"].f == want);
  auto exe = jittest::build(gh, naivePlan(gh), fh);
  CHECK(jittest::execute(*exe, 2)["out"].f == want);
}
