// Quantized weights: bf16 round-to-nearest-even against a reference that picks the nearer of the
// two neighbouring bf16 values in double, q8 blocks, the interpreter's quantized kernels against
// f32 matmul on the dequantized weights, the quantize pass on GPT-2 (what it rewrites, the dump
// reads back) and the memory plan's smaller parameter bytes.
#include "interp_test_util.h"

#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/plan_memory.h"
#include "passes/quantize.h"
#include "runtime/formats/quantize.h"

#include <cstring>
#include <fmt/format.h>
#include <random>

using namespace gptc;
using namespace gptc::test;

namespace {

float bitsToFloat(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
uint32_t floatBits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

/// The reference: of the bf16 values just below and just above x (truncation, and truncation plus
/// one unit in the last place), the nearer in exact double arithmetic; on a tie, the one whose last
/// kept bit is 0.
uint16_t referenceBf16(float x) {
  uint32_t u = floatBits(x);
  uint16_t lo = uint16_t(u >> 16), hi = uint16_t(lo + 1);
  if ((u & 0xffffu) == 0) return lo;
  double dx = x, dlo = bitsToFloat(uint32_t(lo) << 16);
  // hi may be the first value past the largest finite bf16 (then it is inf, which RNE also gives
  // when x is at least halfway there): measure its distance as 2^(exponent) steps.
  double dhi = (hi & 0x7f80u) == 0x7f80u && (lo & 0x7f80u) != 0x7f80u
                   ? std::copysign(std::ldexp(1.0, 128), dx)
                   : double(bitsToFloat(uint32_t(hi) << 16));
  double dl = std::fabs(dx - dlo), dh = std::fabs(dhi - dx);
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1u) ? hi : lo;
}

Graph gpt2(const ConstOverrides& extra = {}) {
  Expected<std::string> text = readTextFile("models/gpt2.graph");
  REQUIRE(text);
  ConstOverrides set = {{"V", "64"}, {"Vp", "64"}, {"maxT", "16"}, {"L", "2"},
                        {"NH", "2"}, {"C", "64"},  {"B", "1"},     {"T", "1"}};
  for (const auto& [k, v] : extra)
    set[k] = v;
  Expected<Graph> g = parseGraph(*text, "models/gpt2.graph", set);
  INFO((g ? std::string() : g.error().render()));
  REQUIRE(g);
  return std::move(*g);
}

} // namespace

TEST_CASE("bf16: round to nearest, ties to even, equals the reference") {
  // Hand-picked: exact, just below/above the halfway point, ties to an even and an odd last bit,
  // a carry into the exponent, the largest finite values, subnormals, zeros, infinities.
  std::vector<uint32_t> cases = {0x3f800000, 0x3f807fff, 0x3f808000, 0x3f808001, 0x3f818000,
                                 0x3f81ffff, 0x3fff8000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff,
                                 0x00000001, 0x00008000, 0x00018000, 0x80000000, 0x00000000,
                                 0xbf808000, 0xbf818000, 0x7f800000, 0xff800000};
  for (uint32_t u : cases) {
    CAPTURE(u);
    CHECK(bf16Bits(bitsToFloat(u)) == referenceBf16(bitsToFloat(u)));
  }
  CHECK(bf16Bits(bitsToFloat(0x3f808000)) == 0x3f80); // tie, even stays
  CHECK(bf16Bits(bitsToFloat(0x3f818000)) == 0x3f82); // tie, odd rounds up
  CHECK(bf16Bits(bitsToFloat(0x7f7fffff)) == 0x7f80); // past the largest finite: inf
  CHECK(std::isnan(roundToBf16(std::nanf(""))));
  std::mt19937 gen(3);
  std::uniform_int_distribution<uint32_t> any;
  int checked = 0;
  for (int k = 0; k < 200000; ++k) {
    uint32_t u = any(gen);
    if ((u & 0x7f800000u) == 0x7f800000u) continue; // inf/NaN: above
    checked += bf16Bits(bitsToFloat(u)) == referenceBf16(bitsToFloat(u));
    if (bf16Bits(bitsToFloat(u)) != referenceBf16(bitsToFloat(u))) {
      CAPTURE(u);
      FAIL("bf16 rounding differs from the reference");
    }
  }
  CHECK(checked > 190000);
}

TEST_CASE("q8 blocks: |x - q·scale| <= scale/2, the largest magnitude maps to ±127") {
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  const int64_t rows = 3, k = 96, block = 32;
  std::vector<float> x(rows * k), q(rows * k), s(rows * k / block);
  for (float& v : x)
    v = normal(gen);
  std::fill_n(x.begin() + 32, 32, 0.0f); // an all-zero block: scale 0, q 0
  quantizeQ8(x.data(), rows, k, block, q.data(), s.data());
  CHECK(s[1] == 0.0f);
  for (int64_t b = 0; b < rows * k / block; ++b) {
    float amax = 0;
    for (int64_t j = 0; j < block; ++j) {
      float v = x[b * block + j], qv = q[b * block + j];
      CHECK(qv == std::round(qv));
      CHECK(std::fabs(qv) <= 127);
      CHECK(std::fabs(v - qv * s[b]) <= s[b] * 0.5f * 1.0001f);
      amax = std::max(amax, std::fabs(qv));
    }
    if (s[b] != 0) CHECK(amax == 127);
  }
}

TEST_CASE("qlinear and qmatmul equal linear and matmul on the dequantized weights") {
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t N = 5, K = 64;
  Tensor x(TensorType{DType::f32, {2, K}}), b(TensorType{DType::f32, {N}});
  for (float& v : x.f)
    v = u(gen);
  for (float& v : b.f)
    v = u(gen);
  std::vector<float> w(N * K);
  for (float& v : w)
    v = u(gen);
  // bf16
  Tensor wb(TensorType{DType::bf16, {N, K}}), wbf(TensorType{DType::f32, {N, K}});
  for (int64_t i = 0; i < N * K; ++i)
    wb.f[i] = wbf.f[i] = roundToBf16(w[i]);
  Tensor deq = eval(OpKind::Dequantize, {&wb});
  CHECK(deq.type == wbf.type);
  CHECK(deq.f == wbf.f);
  Tensor ql = eval(OpKind::QLinear, {&x, &wb, &b});
  Tensor l = eval(OpKind::Linear, {&x, &wbf, &b});
  CHECK(ql.f == l.f); // the same double sums
  Tensor qm = eval(OpKind::QMatMul, {&x, &wb});
  Tensor m = eval(OpKind::MatMul, {&x, &wbf}, {{"tb", int64_t(1)}});
  CHECK(qm.f == m.f);
  // i8, blocks of 32
  Tensor wq(TensorType{DType::i8, {N, K}}), sc(TensorType{DType::f32, {N, 2}});
  quantizeQ8(w.data(), N, K, 32, wq.f.data(), sc.f.data());
  Tensor wd = eval(OpKind::Dequantize, {&wq, &sc});
  for (int64_t i = 0; i < N * K; ++i)
    CHECK(std::fabs(wd.f[i] - w[i]) <= sc.f[(i / K) * 2 + (i % K) / 32] * 0.5001f);
  Tensor ql8 = eval(OpKind::QLinear, {&x, &wq, &b, &sc});
  Tensor l8 = eval(OpKind::Linear, {&x, &wd, &b});
  for (size_t i = 0; i < l8.f.size(); ++i)
    CHECK(ql8.f[i] == doctest::Approx(l8.f[i]).epsilon(1e-6));
  // Shape errors are one sentence.
  CHECK(evalError(OpKind::QMatMul, {&x, &wq}).find("needs its scale") != std::string::npos);
  CHECK(evalError(OpKind::QMatMul, {&x, &wb, &sc}).find("takes no scale") != std::string::npos);
  Tensor bad(TensorType{DType::f32, {N, 3}});
  CHECK(evalError(OpKind::Dequantize, {&wq, &bad}).find("block dividing K") != std::string::npos);
}

TEST_CASE("the quantize pass: GPT-2's decode-sized contractions read bf16 / i8 weights") {
  Graph g = gpt2();
  for (DType dt : {DType::bf16, DType::i8}) {
    std::string dtName = dtypeName(dt);
    CAPTURE(dtName);
    QuantizeOptions o;
    o.dtype = dt;
    Expected<Graph> q = quantizeWeights(g, o);
    REQUIRE_MESSAGE(bool(q), (q ? "" : q.error().render()));
    int qlinear = 0, qmatmul = 0, linear = 0;
    for (const Node& n : q->nodes) {
      qlinear += n.kind == OpKind::QLinear;
      qmatmul += n.kind == OpKind::QMatMul;
      linear += n.kind == OpKind::Linear;
    }
    CHECK(qlinear == 8); // 4 per layer: qkv, attention projection, fc, fc projection
    CHECK(qmatmul == 1); // the tied output layer
    CHECK(linear == 0);
    CHECK(q->find("wte") >= 0); // the embedding keeps reading f32 rows
    CHECK(q->find("qkvw") < 0); // only the quantized copy is left
    CHECK(q->type(q->find("qkvw.q")).dtype == dt);
    if (dt == DType::i8) CHECK(q->type(q->find("qkvw.scale")).shape == Shape{2, 192, 2});
    // The dump reads back to the same text.
    std::string text = printGraph(*q);
    CHECK(text.find(dt == DType::bf16 ? "bf16[2,192,64]" : "i8[2,192,64]") != std::string::npos);
    Expected<Graph> again = parseGraph(text, "dump.graph");
    REQUIRE_MESSAGE(bool(again), (again ? "" : again.error().render()));
    CHECK(printGraph(*again) == text);
    // The plan counts the narrower bytes: the quantized params are a half / a quarter (+ scales).
    MemoryPlan f32Plan = planMemory(g), qPlan = planMemory(*q);
    int64_t w32 = 0, wq = 0;
    for (const Value& v : g.values)
      if (v.kind == ValueKind::Param) w32 += v.type.bytes();
    for (const Value& v : q->values)
      if (v.kind == ValueKind::Param) wq += v.type.bytes();
    CHECK(qPlan.persistentBytes < f32Plan.persistentBytes);
    MESSAGE(fmt::format("{}: params {} -> {} bytes, persistent {} -> {}", dtypeName(dt), w32, wq,
                        f32Plan.persistentBytes, qPlan.persistentBytes));
  }
  // Larger contractions read a dequantized copy (the packed matmul reads f32).
  Graph big = gpt2({{"T", "8"}});
  Expected<Graph> q = quantizeWeights(big, {});
  REQUIRE(bool(q));
  int deq = 0;
  for (const Node& n : q->nodes)
    deq += n.kind == OpKind::Dequantize;
  CHECK(deq == 9);
}
