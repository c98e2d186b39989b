// The ops of today's Transformer on hand-computed values: rmsnorm (no mean, eps inside the root),
// silu and swiglu, rope (both pair layouts, the position operand, inverse undoing it, dot
// products depending only on the distance) and alibi's slopes and distances.
#include "interp_test_util.h"

#include <cmath>

using namespace gptc;
using namespace gptc::test;

TEST_CASE("rmsnorm divides by the root mean square, without centring") {
  // (1,2,3,4): mean square 7.5, rstd = 1/sqrt(7.5) = 0.3651484; w = 2. (Layernorm would centre.)
  Tensor x = f32({1, 4}, {1, 2, 3, 4}), w = f32({4}, {2, 2, 2, 2});
  float r = 0.36514837f;
  checkClose(eval(OpKind::RMSNorm, {&x, &w}, {{"eps", F(0.0)}}).f, {2 * r, 4 * r, 6 * r, 8 * r},
             1e-6);
  // (0, 2), eps 2: mean square 2, rstd = 1/sqrt(2+2) = 0.5
  Tensor x2 = f32({2}, {0, 2}), w2 = f32({2}, {1, 1});
  checkClose(eval(OpKind::RMSNorm, {&x2, &w2}, {{"eps", F(2.0)}}).f, {0, 1}, 1e-7);
}

TEST_CASE("rmsnorm_grad_x against a central difference") {
  std::vector<float> xs = {0.3f, -1.2f, 2.0f, 0.7f}, ws = {1.5f, -0.5f, 2.0f, 1.0f};
  std::vector<float> dys = {0.2f, -1.0f, 0.5f, 1.0f};
  Tensor X = f32({1, 4}, xs), W = f32({4}, ws), DY = f32({1, 4}, dys);
  std::vector<float> dx = eval(OpKind::RMSNormGradX, {&X, &W, &DY}).f;
  for (int k = 0; k < 4; ++k) {
    auto loss = [&](float delta) {
      std::vector<float> xp = xs;
      xp[k] += delta;
      Tensor XP = f32({1, 4}, xp);
      std::vector<float> y = eval(OpKind::RMSNorm, {&XP, &W}).f;
      double s = 0;
      for (int c = 0; c < 4; ++c)
        s += double(y[c]) * dys[c];
      return s;
    };
    double fd = (loss(1e-3f) - loss(-1e-3f)) / 2e-3;
    CHECK(std::abs(fd - dx[k]) < 2e-3);
  }
}

TEST_CASE("silu and swiglu") {
  // silu(1) = 1/(1+e^-1) = 0.7310586, silu(-1) = -0.2689414, silu(0) = 0
  Tensor x = f32({3}, {0, 1, -1});
  checkClose(eval(OpKind::Silu, {&x}).f, {0, 0.7310586f, -0.2689414f}, 1e-7);
  Tensor u = f32({3}, {5, 2, -3});
  checkClose(eval(OpKind::SwiGLU, {&x, &u}).f, {0, 1.4621172f, 0.8068243f}, 1e-6);
  // silu'(0) = 0.5; silu'(1) = s(1+(1-s)) = 0.7310586 * 1.2689414 = 0.9276705
  Tensor dy = f32({3}, {1, 1, 2});
  std::vector<float> g = eval(OpKind::SiluGrad, {&x, &dy}).f;
  checkClose({g[0], g[1]}, {0.5f, 0.9276705f}, 1e-6);
}

TEST_CASE("rope rotates pairs by position times theta^(-2i/D)") {
  // D = 4, theta = 100: pair 0 at frequency 1, pair 1 at 100^(-1/2) = 0.1. x = (1, 0, 0, 1) in
  // the half-split layout is a = (1, 0), b = (0, 1): pair 0 is (1, 0), pair 1 is (0, 1).
  Tensor x = f32({2, 4}, {1, 0, 0, 1, 1, 0, 0, 1});
  std::vector<float> y = eval(OpKind::Rope, {&x}, {{"theta", F(100.0)}}).f;
  // row 0 is position 0: unchanged; row 1 at position 1: pair 0 -> (cos 1, sin 1),
  // pair 1 (0, 1) -> (-sin 0.1, cos 0.1)
  checkClose(y, {1, 0, 0, 1, std::cos(1.0f), -std::sin(0.1f), std::sin(1.0f), std::cos(0.1f)},
             1e-6);
  // Interleaved: pairs are (x0, x1), (x2, x3).
  std::vector<float> yi = eval(OpKind::Rope, {&x}, {{"theta", F(100.0)}, {"interleaved", I(1)}}).f;
  checkClose(yi, {1, 0, 0, 1, std::cos(1.0f), std::sin(1.0f), -std::sin(0.1f), std::cos(0.1f)},
             1e-6);
  // The position operand moves every row: one row at pos 1 is row 1 above.
  Tensor one = f32({1, 4}, {1, 0, 0, 1}), pos = i32({}, {1});
  checkClose(eval(OpKind::Rope, {&one, &pos}, {{"theta", F(100.0)}}).f, {y[4], y[5], y[6], y[7]},
             0);
  // inverse undoes it.
  Tensor rotated = f32({2, 4}, y);
  checkClose(eval(OpKind::Rope, {&rotated}, {{"theta", F(100.0)}, {"inverse", I(1)}}).f,
             {1, 0, 0, 1, 1, 0, 0, 1}, 1e-6);
}

TEST_CASE("rope: q·k depends only on the distance between positions") {
  Tensor q = f32({1, 8}, {0.3f, -1.0f, 0.5f, 2.0f, 1.1f, -0.4f, 0.9f, 0.2f});
  Tensor k = f32({1, 8}, {-0.7f, 0.6f, 1.5f, 0.1f, -0.3f, 0.8f, -1.2f, 0.4f});
  auto dotAt = [&](int pq, int pk) {
    Tensor a = i32({}, {pq}), b = i32({}, {pk});
    std::vector<float> rq = eval(OpKind::Rope, {&q, &a}).f, rk = eval(OpKind::Rope, {&k, &b}).f;
    double s = 0;
    for (int c = 0; c < 8; ++c)
      s += double(rq[c]) * rk[c];
    return s;
  };
  CHECK(std::abs(dotAt(7, 3) - dotAt(4, 0)) < 1e-5);
  CHECK(std::abs(dotAt(20, 17) - dotAt(3, 0)) < 1e-5);
  CHECK(std::abs(dotAt(7, 3) - dotAt(3, 0)) > 1e-3); // and it does depend on it
}

TEST_CASE("alibi adds m_h * (j - i - offset), m_h = 2^(-8(h+1)/H)") {
  // H = 2: slopes 2^-4 = 0.0625 and 2^-8 = 0.00390625; T = 2.
  Tensor x = f32({2, 2, 2}, {0, 0, 0, 0, 0, 0, 0, 0});
  checkClose(eval(OpKind::Alibi, {&x}).f,
             {0, 0.0625f, -0.0625f, 0, 0, 0.00390625f, -0.00390625f, 0}, 0);
  // offset 3, one query: keys 0..3 at distances -3..0
  Tensor row = f32({1, 1, 4}, {1, 1, 1, 1});
  checkClose(eval(OpKind::Alibi, {&row}, {{"offset", I(3)}}).f,
             {1 - 3 * 0.00390625f, 1 - 2 * 0.00390625f, 1 - 0.00390625f, 1}, 1e-7);
}
