// Hand-checked cases for the layout kernels (reshape, transpose, split/merge heads, slice, pad,
// concat, select, stack, broadcast — on f32 and i32) and the reductions (sum, mean, max; double
// accumulation; NaN in max).
#include "interp_test_util.h"

#include <cmath>
#include <limits>

using namespace gptc;
using namespace gptc::test;

TEST_CASE("reshape keeps the row-major order, for f32 and i32") {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = eval(OpKind::Reshape, {&x}, {{"shape", L({3, -1})}});
  CHECK(y.type.shape == Shape{3, 2});
  CHECK(y.f == x.f);
  Tensor ids = i32({4}, {7, 8, 9, 10});
  Tensor r = eval(OpKind::Reshape, {&ids}, {{"shape", L({2, 2})}});
  CHECK(r.type == TensorType{DType::i32, {2, 2}});
  CHECK(r.i == ids.i);
}

TEST_CASE("transpose permutes axes") {
  // [[1,2,3],[4,5,6]]^T = [[1,4],[2,5],[3,6]]
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::Transpose, {&x}, {{"perm", L({1, 0})}}).f ==
        std::vector<float>{1, 4, 2, 5, 3, 6});
  // (2,1,3) with perm (2,0,1) -> (3,2,1): out[k][i][0] = x[i][0][k]
  Tensor x3 = f32({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor y = eval(OpKind::Transpose, {&x3}, {{"perm", L({2, 0, 1})}});
  CHECK(y.type.shape == Shape{3, 2, 1});
  CHECK(y.f == std::vector<float>{1, 4, 2, 5, 3, 6});
}

TEST_CASE("split_heads and merge_heads are inverse layouts") {
  // (B=1,T=2,C=4), heads 2: head 0 takes channels 0-1, head 1 channels 2-3.
  //   t0 = (0,1,2,3), t1 = (4,5,6,7) -> h0 = [(0,1),(4,5)], h1 = [(2,3),(6,7)]
  Tensor x = f32({1, 2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor h = eval(OpKind::SplitHeads, {&x}, {{"heads", I(2)}});
  CHECK(h.type.shape == Shape{1, 2, 2, 2});
  CHECK(h.f == std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7});
  Tensor back = eval(OpKind::MergeHeads, {&h});
  CHECK(back.type.shape == Shape{1, 2, 4});
  CHECK(back.f == x.f);
}

TEST_CASE("slice, pad, concat, select, stack") {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::Slice, {&x}, {{"axis", I(1)}, {"start", I(1)}, {"end", I(3)}}).f ==
        std::vector<float>{2, 3, 5, 6});
  CHECK(eval(OpKind::Slice, {&x}, {{"axis", I(-2)}, {"start", I(1)}, {"end", I(2)}}).f ==
        std::vector<float>{4, 5, 6});
  Tensor p = f32({1, 2}, {7, 8});
  Tensor padded = eval(OpKind::Pad, {&p}, {{"axis", I(0)}, {"before", I(1)}, {"after", I(1)}});
  CHECK(padded.type.shape == Shape{3, 2});
  CHECK(padded.f == std::vector<float>{0, 0, 7, 8, 0, 0});
  CHECK(eval(OpKind::Pad, {&p}, {{"axis", I(1)}, {"before", I(0)}, {"after", I(2)}}).f ==
        std::vector<float>{7, 8, 0, 0});
  Tensor c1 = f32({2, 1}, {9, 10});
  // concat on axis 1: [[9,1,2,3],[10,4,5,6]]
  CHECK(eval(OpKind::Concat, {&c1, &x}, {{"axis", I(1)}}).f ==
        std::vector<float>{9, 1, 2, 3, 10, 4, 5, 6});
  CHECK(eval(OpKind::Concat, {&x, &x}, {{"axis", I(0)}}).f.size() == 12);
  Tensor sel = eval(OpKind::Select, {&x}, {{"index", I(1)}});
  CHECK(sel.type.shape == Shape{3});
  CHECK(sel.f == std::vector<float>{4, 5, 6});
  Tensor s = eval(OpKind::Stack, {&sel, &sel});
  CHECK(s.type.shape == Shape{2, 3});
  CHECK(s.f == std::vector<float>{4, 5, 6, 4, 5, 6});
  Tensor ids = i32({2, 2}, {1, 2, 3, 4});
  CHECK(eval(OpKind::Select, {&ids}, {{"index", I(0)}}).i == std::vector<int32_t>{1, 2});
}

TEST_CASE("broadcast stretches size-1 and missing axes") {
  Tensor row = f32({3}, {1, 2, 3}), col = f32({2, 1}, {5, 6});
  CHECK(eval(OpKind::Broadcast, {&row}, {{"shape", L({2, 3})}}).f ==
        std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK(eval(OpKind::Broadcast, {&col}, {{"shape", L({2, 3})}}).f ==
        std::vector<float>{5, 5, 5, 6, 6, 6});
}

TEST_CASE("reduce_sum, reduce_mean, reduce_max over axes") {
  Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  CHECK(eval(OpKind::ReduceSum, {&x}, {{"axes", L({1})}}).f == std::vector<float>{6, 15});
  CHECK(eval(OpKind::ReduceSum, {&x}, {{"axes", L({0})}}).f == std::vector<float>{5, 7, 9});
  Tensor all = eval(OpKind::ReduceSum, {&x}, {{"axes", L({0, 1})}, {"keepdims", I(1)}});
  CHECK(all.type.shape == Shape{1, 1});
  CHECK(all.f == std::vector<float>{21});
  CHECK(eval(OpKind::ReduceMean, {&x}, {{"axes", L({-1})}}).f == std::vector<float>{2, 5});
  CHECK(eval(OpKind::ReduceMax, {&x}, {{"axes", L({1})}}).f == std::vector<float>{3, 6});
  CHECK(eval(OpKind::ReduceMax, {&x}, {{"axes", L({0})}}).f == std::vector<float>{4, 5, 6});
}

TEST_CASE("reductions accumulate in double; max propagates NaN") {
  // 1e8 + 1 - 1e8 = 1 in double; an f32 running sum gives 0.
  Tensor x = f32({3}, {1e8f, 1, -1e8f});
  CHECK(eval(OpKind::ReduceSum, {&x}, {{"axes", L({0})}}).f[0] == 1.0f);
  float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor n = f32({2, 2}, {1, nan, nan, 3});
  Tensor m = eval(OpKind::ReduceMax, {&n}, {{"axes", L({1})}});
  CHECK(std::isnan(m.f[0]));
  CHECK(std::isnan(m.f[1]));
}
