// Hand-checked cases for matmul (each transpose flag, batched, a shared 2-D b), linear, layernorm
// and its gradients, softmax (including a fully masked row) and its gradient.
#include "interp_test_util.h"

#include <cmath>
#include <limits>

using namespace gptc;
using namespace gptc::test;

namespace {
const float kNegInf = -std::numeric_limits<float>::infinity();
// [[1,2,3],[4,5,6]] @ [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
//   58 = 1*7+2*9+3*11, 64 = 1*8+2*10+3*12, 139 = 4*7+5*9+6*11, 154 = 4*8+5*10+6*12
const std::vector<float> kA = {1, 2, 3, 4, 5, 6};     // (2,3)
const std::vector<float> kAT = {1, 4, 2, 5, 3, 6};    // a^T (3,2)
const std::vector<float> kB = {7, 8, 9, 10, 11, 12};  // (3,2)
const std::vector<float> kBT = {7, 9, 11, 8, 10, 12}; // b^T (2,3)
const std::vector<float> kAB = {58, 64, 139, 154};
} // namespace

TEST_CASE("matmul with every transpose flag") {
  Tensor a = f32({2, 3}, kA), at = f32({3, 2}, kAT), b = f32({3, 2}, kB), bt = f32({2, 3}, kBT);
  CHECK(eval(OpKind::MatMul, {&a, &b}).f == kAB);
  CHECK(eval(OpKind::MatMul, {&at, &b}, {{"ta", I(1)}}).f == kAB);
  CHECK(eval(OpKind::MatMul, {&a, &bt}, {{"tb", I(1)}}).f == kAB);
  CHECK(eval(OpKind::MatMul, {&at, &bt}, {{"ta", I(1)}, {"tb", I(1)}}).f == kAB);
}

TEST_CASE("matmul over batches, with a shared 2-D b and with a batched b") {
  // a (2,2,3): batch 0 = A, batch 1 = 2A. Shared b: batch 1's result is 2 * AB.
  std::vector<float> a2 = kA;
  for (float v : kA)
    a2.push_back(2 * v);
  Tensor a = f32({2, 2, 3}, a2), b = f32({3, 2}, kB);
  Tensor y = eval(OpKind::MatMul, {&a, &b});
  CHECK(y.type.shape == Shape{2, 2, 2});
  CHECK(y.f == std::vector<float>{58, 64, 139, 154, 116, 128, 278, 308});
  // Batched b (2,3,2): batch 1 of b picks columns [1,0] rows -> [[1,0],[0,1],[0,0]]:
  //   2A @ that = [[2*2, 2*1], [2*5, 2*4]] = [[4,2],[10,8]]
  std::vector<float> b2 = kB;
  for (float v : {0, 1, 1, 0, 0, 0})
    b2.push_back(v);
  Tensor bb = f32({2, 3, 2}, b2);
  CHECK(eval(OpKind::MatMul, {&a, &bb}).f == std::vector<float>{58, 64, 139, 154, 4, 2, 10, 8});
}

TEST_CASE("linear is x @ w^T + b, summed in double") {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor w = f32({2, 3}, {1, 0, 0, 0, 1, 1}); // out0 = x0, out1 = x1 + x2
  Tensor b = f32({2}, {10, 20});
  checkClose(eval(OpKind::Linear, {&x, &w, &b}).f, {11, 25, 14, 31});
  // 1e8 + 1 - 1e8: an f32 running sum loses the 1 (f32 spacing at 1e8 is 8); a double sum keeps it.
  Tensor big = f32({1, 3}, {1e8f, 1, -1e8f}), ones = f32({1, 3}, {1, 1, 1}), zero = f32({1}, {0});
  CHECK(eval(OpKind::Linear, {&big, &ones, &zero}).f[0] == 1.0f);
}

TEST_CASE("layernorm: biased variance, eps inside the square root") {
  // Row (1,2,3,4), eps 0: mean 2.5, biased var (2.25+0.25+0.25+2.25)/4 = 1.25, rstd 0.8944272;
  // y = (x-2.5)*rstd*w + b with w = 2, b = 1: 1 + 2*(-1.3416408, -0.4472136, 0.4472136, 1.3416408).
  // (The unbiased variance 5/3 would give -1.1618950 for the first xhat.)
  Tensor x = f32({1, 4}, {1, 2, 3, 4}), w = f32({4}, {2, 2, 2, 2}), b = f32({4}, {1, 1, 1, 1});
  checkClose(eval(OpKind::LayerNorm, {&x, &w, &b}, {{"eps", F(0.0)}}).f,
             {1 - 2 * 1.3416408f, 1 - 2 * 0.4472136f, 1 + 2 * 0.4472136f, 1 + 2 * 1.3416408f},
             1e-6);
  // Row (0,2), eps 1: var 1, rstd = 1/sqrt(1+1) = 0.7071068 (eps outside the root would give 0.5).
  Tensor x2 = f32({2}, {0, 2}), w2 = f32({2}, {1, 1}), b2 = f32({2}, {0, 0});
  checkClose(eval(OpKind::LayerNorm, {&x2, &w2, &b2}, {{"eps", F(1.0)}}).f,
             {-0.7071068f, 0.7071068f}, 1e-6);
}

TEST_CASE("layernorm_grad_x and layernorm_grad_w") {
  // C = 2, eps 0: y = (-1, 1) whatever x is (as long as x0 < x1), so dx = 0 for any dy.
  Tensor x = f32({1, 2}, {0, 2}), w = f32({2}, {1, 1}), dy = f32({1, 2}, {1, 0});
  checkClose(eval(OpKind::LayerNormGradX, {&x, &w, &dy}, {{"eps", F(0.0)}}).f, {0, 0});
  // dw = sum over rows of dy * xhat; xhat = (-1, 1) in both rows: (3*-1 + 1*-1, 5*1 + 2*1) = (-4,
  // 7).
  Tensor x2 = f32({2, 2}, {0, 2, 10, 30}), dy2 = f32({2, 2}, {3, 5, 1, 2});
  checkClose(eval(OpKind::LayerNormGradW, {&x2, &dy2}, {{"eps", F(0.0)}}).f, {-4, 7}, 1e-6);

  // C = 4: dx against a central difference of sum(dy * layernorm(x)), in f32 (so a loose
  // tolerance).
  std::vector<float> xs = {0.3f, -1.2f, 2.0f, 0.7f}, ws = {1.5f, -0.5f, 2.0f, 1.0f};
  std::vector<float> dys = {0.2f, -1.0f, 0.5f, 1.0f};
  Tensor X = f32({1, 4}, xs), W = f32({4}, ws), DY = f32({1, 4}, dys), B0 = f32({4}, {0, 0, 0, 0});
  Tensor dx = eval(OpKind::LayerNormGradX, {&X, &W, &DY});
  for (int k = 0; k < 4; ++k) {
    auto objective = [&](float delta) {
      std::vector<float> p = xs;
      p[k] += delta;
      Tensor Xp = f32({1, 4}, p);
      Tensor y = eval(OpKind::LayerNorm, {&Xp, &W, &B0});
      double s = 0;
      for (int c = 0; c < 4; ++c)
        s += double(dys[c]) * y.f[c];
      return s;
    };
    double fd = (objective(1e-2f) - objective(-1e-2f)) / 2e-2;
    CHECK(dx.f[k] == doctest::Approx(fd).epsilon(1e-3).scale(1));
  }
}

TEST_CASE("softmax: stable, and a fully masked row gives zeros") {
  // exp(0) : exp(ln 3) = 1 : 3 -> (0.25, 0.75); shifting by 1000 changes nothing (max subtracted).
  Tensor x =
      f32({4, 2}, {0, std::log(3.0f), 1000, 1000 + std::log(3.0f), kNegInf, kNegInf, kNegInf, 5});
  Tensor y = eval(OpKind::Softmax, {&x});
  checkClose(y.f, {0.25f, 0.75f, 0.25f, 0.75f, 0, 0, 0, 1}, 1e-4);
  CHECK(y.f[4] == 0.0f); // exactly zero, not NaN
  CHECK(y.f[5] == 0.0f);
  // T = 1: a single key gets all the weight.
  Tensor one = f32({1, 1}, {-3});
  CHECK(eval(OpKind::Softmax, {&one}).f == std::vector<float>{1});
}

TEST_CASE("softmax_grad is y * (dy - sum(dy*y))") {
  // y (0.25, 0.75), dy (1, 0): sum = 0.25 -> (0.25*0.75, 0.75*-0.25) = (0.1875, -0.1875)
  Tensor y = f32({2}, {0.25f, 0.75f}), dy = f32({2}, {1, 0});
  checkClose(eval(OpKind::SoftmaxGrad, {&y, &dy}).f, {0.1875f, -0.1875f});
}
