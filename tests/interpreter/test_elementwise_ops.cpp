// Hand-checked cases for the elementwise and broadcasting kernels: arithmetic with numpy
// broadcasting, gelu (tanh form) and relu with their gradients, dropout (scaling, determinism, the
// kept fraction), causal_mask, mask_fill, pad_mask, fill. Every expected number is worked out in a
// comment.
#include "interp_test_util.h"

#include <cmath>
#include <limits>

using namespace gptc;
using namespace gptc::test;

namespace {
const float kNegInf = -std::numeric_limits<float>::infinity();
}

TEST_CASE("add, sub, mul, div broadcast like numpy") {
  Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor row = f32({3}, {10, 20, 30});  // repeats over a's rows
  Tensor col = f32({2, 1}, {100, 200}); // repeats over a's columns
  checkClose(eval(OpKind::Add, {&a, &row}).f, {11, 22, 33, 14, 25, 36});
  checkClose(eval(OpKind::Add, {&a, &col}).f, {101, 102, 103, 204, 205, 206});
  // Both sides stretch: (2,1) + (3) -> (2,3); out[i][j] = col[i] + row[j].
  Tensor both = eval(OpKind::Add, {&col, &row});
  CHECK(both.type.shape == Shape{2, 3});
  checkClose(both.f, {110, 120, 130, 210, 220, 230});
  Tensor s = f32({}, {2});
  checkClose(eval(OpKind::Sub, {&a, &s}).f, {-1, 0, 1, 2, 3, 4});
  checkClose(eval(OpKind::Mul, {&col, &row}).f, {1000, 2000, 3000, 2000, 4000, 6000});
  Tensor num = f32({2}, {1, 3}), den = f32({2}, {2, 4});
  checkClose(eval(OpKind::Div, {&num, &den}).f, {0.5f, 0.75f});
}

TEST_CASE("scale, relu, relu_grad") {
  Tensor x = f32({3}, {1, -2, 0});
  checkClose(eval(OpKind::Scale, {&x}, {{"s", F(0.5)}}).f, {0.5f, -1, 0});
  checkClose(eval(OpKind::Relu, {&x}).f, {1, 0, 0});
  Tensor dy = f32({3}, {5, 7, 9});
  // Gradient passes only where x > 0 (x = 0 counts as off, as torch).
  checkClose(eval(OpKind::ReluGrad, {&x, &dy}).f, {5, 0, 0});
}

TEST_CASE("gelu is the tanh form") {
  // 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))): gelu(0)=0, gelu(1)=0.8411920, gelu(-1)=-0.1588080
  // (gelu(x) - gelu(-x) = x), gelu(2)=1.9545977. The erf form would give 0.8413447 at 1.
  Tensor x = f32({4}, {0, 1, -1, 2});
  checkClose(eval(OpKind::Gelu, {&x}).f, {0.0f, 0.8411920f, -0.1588080f, 1.9545977f}, 1e-6);
}

TEST_CASE("gelu_grad matches the derivative of gelu") {
  // gelu'(0) = 0.5 exactly; elsewhere compare with a central difference in double.
  auto gelu = [](double x) {
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  };
  std::vector<float> xs = {0, 0.5f, -1.5f, 3};
  Tensor x = f32({4}, xs), dy = f32({4}, {1, 2, 1, -1});
  Tensor g = eval(OpKind::GeluGrad, {&x, &dy});
  CHECK(g.f[0] == doctest::Approx(0.5).epsilon(1e-7));
  for (int k = 1; k < 4; ++k) {
    double h = 1e-5, fd = (gelu(xs[k] + h) - gelu(xs[k] - h)) / (2 * h);
    CHECK(g.f[k] == doctest::Approx(fd * dy.f[k]).epsilon(1e-5));
  }
}

TEST_CASE("dropout: identity at p=0, scaled survivors, deterministic masks") {
  Tensor x = f32({1000}, std::vector<float>(1000, 1.0f));
  Tensor seed = Tensor::scalarI32(42);
  CHECK(eval(OpKind::Dropout, {&x, &seed}, {{"p", F(0.0)}}).f == x.f);

  // p = 0.5: every element is 0 or 1/(1-0.5) = 2 exactly.
  Tensor a = eval(OpKind::Dropout, {&x, &seed}, {{"p", F(0.5)}});
  for (float v : a.f)
    CHECK((v == 0.0f || v == 2.0f));
  // Same seed and salt: the same mask. Another salt or seed: another mask.
  CHECK(eval(OpKind::Dropout, {&x, &seed}, {{"p", F(0.5)}}).f == a.f);
  CHECK(eval(OpKind::Dropout, {&x, &seed}, {{"p", F(0.5)}, {"salt", I(1)}}).f != a.f);
  Tensor seed2 = Tensor::scalarI32(43);
  CHECK(eval(OpKind::Dropout, {&x, &seed2}, {{"p", F(0.5)}}).f != a.f);
}

TEST_CASE("dropout keeps about 1-p of 100k elements") {
  Tensor x = f32({100000}, std::vector<float>(100000, 1.0f));
  Tensor seed = Tensor::scalarI32(7);
  for (double p : {0.1, 0.5, 0.9}) {
    Tensor y = eval(OpKind::Dropout, {&x, &seed}, {{"p", F(p)}});
    int kept = 0;
    for (float v : y.f)
      kept += v != 0.0f;
    // Binomial(100k, 1-p): the standard deviation is at most 158, so 1% (1000) is > 6 sigma.
    INFO("p = " << p << ", kept " << kept);
    CHECK(std::abs(kept / 100000.0 - (1 - p)) < 0.01);
  }
}

TEST_CASE("causal_mask hides keys after the query (plus offset)") {
  // (2,3,3): both batches get the same upper triangle of -inf.
  std::vector<float> ones(18, 1.0f);
  Tensor x = f32({2, 3, 3}, ones);
  Tensor y = eval(OpKind::CausalMask, {&x});
  std::vector<float> tri = {1, kNegInf, kNegInf, 1, 1, kNegInf, 1, 1, 1};
  for (int b = 0; b < 2; ++b)
    for (int k = 0; k < 9; ++k)
      CHECK(y.f[b * 9 + k] == tri[k]);
  // offset 1: query i also sees key i+1.
  Tensor z = eval(OpKind::CausalMask, {&x}, {{"offset", I(1)}});
  std::vector<float> band = {1, 1, kNegInf, 1, 1, 1, 1, 1, 1};
  for (int k = 0; k < 9; ++k)
    CHECK(z.f[k] == band[k]);
  // T = 1: the only key is the query itself; nothing is masked.
  Tensor one = f32({1, 1}, {3});
  CHECK(eval(OpKind::CausalMask, {&one}).f == std::vector<float>{3});
}

TEST_CASE("mask_fill writes value where keep is 0, with broadcasting") {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor keepRow = f32({3}, {1, 0, 1}); // column 1 masked in both rows
  std::vector<float> want = {1, kNegInf, 3, 4, kNegInf, 6};
  CHECK(eval(OpKind::MaskFill, {&x, &keepRow}).f == want);
  Tensor keepCol = i32({2, 1}, {0, 1}); // i32 keep; row 0 masked
  checkClose(eval(OpKind::MaskFill, {&x, &keepCol}, {{"value", F(-1e9)}}).f,
             {-1e9f, -1e9f, -1e9f, 4, 5, 6});
  // The attention shape: scores (B,H,Tq,Tk) with keep (B,1,1,Tk).
  Tensor s = f32({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor keep = f32({1, 1, 1, 2}, {1, 0});
  std::vector<float> want2 = {1, kNegInf, 3, kNegInf};
  CHECK(eval(OpKind::MaskFill, {&s, &keep}).f == want2);
}

TEST_CASE("pad_mask and fill") {
  Tensor ids = i32({2, 2}, {0, 5, 0, 3});
  Tensor m = eval(OpKind::PadMask, {&ids});
  CHECK(m.type == TensorType{DType::f32, {2, 2}});
  checkClose(m.f, {0, 1, 0, 1});
  checkClose(eval(OpKind::PadMask, {&ids}, {{"pad", I(3)}}).f, {1, 1, 1, 0});
  Tensor f = eval(OpKind::Fill, {}, {{"shape", L({2, 2})}, {"value", F(1.5)}});
  CHECK(f.type.shape == Shape{2, 2});
  checkClose(f.f, {1.5f, 1.5f, 1.5f, 1.5f});
}

TEST_CASE("evalOp reports shape-rule and operand-count errors instead of running") {
  Tensor a = f32({2}, {1, 2}), b = f32({3}, {1, 2, 3});
  std::string e = evalError(OpKind::Add, {&a, &b});
  CHECK(e.find("add: ") == 0);
  CHECK(e.find("do not broadcast") != std::string::npos);
  CHECK(evalError(OpKind::Relu, {&a, &b}).find("relu: takes 1 operand") == 0);
}
