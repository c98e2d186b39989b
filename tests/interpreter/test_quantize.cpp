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

TEST_CASE("qlinear / qmatmul with xblock: x quantized per piece, integer dot products") {
  // With xblock = 32 and blocks of 32, the op is linear on the dequantized weights and the
  // dequantized x, x quantized by the weights' own rule (quantizeQ8): the same numbers.
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> u(-1, 1);
  const int64_t N = 5, K = 96, R = 3;
  Tensor x(TensorType{DType::f32, {R, K}}), b(TensorType{DType::f32, {N}});
  for (float& v : x.f)
    v = u(gen);
  for (int64_t k = 32; k < 64; ++k)
    x.f[K + k] = 0.0f; // row 1, piece 1: all zeros (d_x = 0: adds 0, not NaN)
  for (int64_t k = 0; k < K; ++k)
    x.f[2 * K + k] = 0.0f; // row 2: all zeros (y = b)
  for (float& v : b.f)
    v = u(gen);
  std::vector<float> w(N * K);
  for (float& v : w)
    v = u(gen);
  Tensor wq(TensorType{DType::i8, {N, K}}), sc(TensorType{DType::f32, {N, 3}});
  quantizeQ8(w.data(), N, K, 32, wq.f.data(), sc.f.data());
  Tensor xq(TensorType{DType::i8, {R, K}}), xs(TensorType{DType::f32, {R, 3}});
  quantizeQ8(x.f.data(), R, K, 32, xq.f.data(), xs.f.data());
  CHECK(xs.f[4] == 0.0f);
  Tensor wd = eval(OpKind::Dequantize, {&wq, &sc}), xd = eval(OpKind::Dequantize, {&xq, &xs});
  Tensor ref = eval(OpKind::Linear, {&xd, &wd, &b});
  Tensor y = eval(OpKind::QLinear, {&x, &wq, &b, &sc}, {{"xblock", int64_t(32)}});
  for (size_t i = 0; i < ref.f.size(); ++i) {
    CHECK(std::isfinite(y.f[i]));
    CHECK(y.f[i] == doctest::Approx(ref.f[i]).epsilon(1e-6));
  }
  for (int64_t n = 0; n < N; ++n)
    CHECK(y.f[2 * N + n] == b.f[n]);
  // The error against f32 x is q8_0's: at most half a step of x per weight.
  Tensor yf = eval(OpKind::QLinear, {&x, &wq, &b, &sc});
  for (int64_t r = 0; r < R; ++r)
    for (int64_t n = 0; n < N; ++n) {
      double bound = 0;
      for (int64_t k = 0; k < K; ++k)
        bound += 0.5 * xs.f[r * 3 + k / 32] * std::fabs(wd.f[n * K + k]);
      CHECK(std::fabs(y.f[r * N + n] - yf.f[r * N + n]) <= bound * 1.001 + 1e-6);
    }
  // One scale per row and K = 40: pieces of 32 and 8, each with its own d_x. Ties round away
  // from zero: with max|x| = 127 in a piece, d_x = 1 and x = 2.5 is 3, -0.5 is -1.
  const int64_t K2 = 40;
  Tensor x2(TensorType{DType::f32, {1, K2}}), w2(TensorType{DType::i8, {1, K2}});
  Tensor s2(TensorType{DType::f32, {1, 1}});
  for (int64_t k = 0; k < K2; ++k) {
    x2.f[k] = k < 32 ? float(k % 7) - 2.5f : 0.25f * float(k - 35);
    w2.f[k] = float(k % 5 - 2);
  }
  x2.f[3] = 127.0f;
  s2.f[0] = 0.5f;
  Tensor y2 = eval(OpKind::QMatMul, {&x2, &w2, &s2}, {{"xblock", int64_t(32)}});
  float d1 = 1.0f / 127.0f, id1 = 1.0f / d1; // the second piece: max |x| = 4 · 0.25
  double expect = 0;
  for (int64_t k = 0; k < K2; ++k) {
    double q = k < 32 ? std::round(double(x2.f[k])) : std::round(x2.f[k] * id1);
    expect += (k < 32 ? 1.0 : double(d1)) * q * w2.f[k];
  }
  CHECK(y2.f[0] == doctest::Approx(0.5 * expect).epsilon(1e-6));
  CHECK(std::round(2.5) == 3.0); // the rule the test relies on
  // A NaN in x makes its rows NaN; xblock needs i8 weights.
  x2.f[37] = std::nanf("");
  CHECK(std::isnan(eval(OpKind::QMatMul, {&x2, &w2, &s2}, {{"xblock", int64_t(32)}}).f[0]));
  Tensor wb(TensorType{DType::bf16, {1, K2}});
  CHECK(evalError(OpKind::QMatMul, {&x2, &wb}, {{"xblock", int64_t(32)}}).find("xblock") !=
        std::string::npos);
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
    // i8: x is quantized too (integer dot products), bf16 keeps x in f32.
    for (const Node& n : q->nodes)
      if (n.kind == OpKind::QLinear || n.kind == OpKind::QMatMul)
        CHECK(attrInt(n.attrs, "xblock") == (dt == DType::i8 ? 32 : 0));
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
