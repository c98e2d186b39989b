// tests/jit/test_ops.cpp — every op kind, JIT vs interpreter, on random inputs at a few shapes:
// odd sizes that are not a multiple of the vector width, T=1, broadcasting, masked rows, i32
// layouts. Each case is a one-op graph; it runs on 1 and 2 threads (which must agree bit for bit)
// and is compared with the interpreter: 1e-5 relative forward, 1e-4 for gradient ops (measure in
// jit_test_util.h). A test also fails when an op kind has no case here, so a new ops.def row needs
// a differential test as well as a lowering.
#include "jit_test_util.h"

#include "passes/plan_memory.h"
#include "runtime/formats/quantize.h"

#include <array>
#include <fmt/format.h>
#include <set>

namespace gptc {
namespace {

using jittest::randomF32;
using jittest::randomI32;

using Fill = std::function<Tensor(int operand, const TensorType& t, std::mt19937& gen)>;

struct Case {
  OpKind kind;
  std::vector<TensorType> operands;
  Attrs attrs;
  Fill fill; // null: f32 uniform(-2, 2), i32 uniform [0, 4)
  std::string label;
};

TensorType f(Shape s) {
  return {DType::f32, std::move(s)};
}
TensorType i(Shape s) {
  return {DType::i32, std::move(s)};
}
TensorType bf(Shape s) {
  return {DType::bf16, std::move(s)};
}
TensorType q8(Shape s) {
  return {DType::i8, std::move(s)};
}

bool isGradientOp(OpKind k) {
  switch (k) {
  case OpKind::GeluGrad:
  case OpKind::ReluGrad:
  case OpKind::LayerNormGradX:
  case OpKind::LayerNormGradW:
  case OpKind::SoftmaxGrad:
  case OpKind::EmbeddingGrad:
  case OpKind::CrossEntropyGrad:
  case OpKind::MaskedSoftmaxGrad:
  case OpKind::MatMulGeluGrad:
  case OpKind::EmbeddingGradAdd:
  case OpKind::RMSNormGradX:
  case OpKind::RMSNormGradW:
  case OpKind::SiluGrad:
  case OpKind::AttentionGrad:
  case OpKind::LinearCrossEntropyGrad:
    return true;
  default:
    return false;
  }
}

Tensor defaultFill(const TensorType& t, std::mt19937& gen) {
  if (t.dtype == DType::bf16 || t.dtype == DType::i8) {
    // Quantized weights: values the dtype holds exactly (bf16-rounded floats, integers).
    Tensor x = randomF32(t.shape, gen, t.dtype == DType::i8 ? -127.0f : -2.0f,
                         t.dtype == DType::i8 ? 127.0f : 2.0f);
    Tensor q(t);
    for (size_t j = 0; j < x.f.size(); ++j)
      q.f[j] = t.dtype == DType::i8 ? std::round(x.f[j]) : roundToBf16(x.f[j]);
    return q;
  }
  return t.dtype == DType::f32 ? randomF32(t.shape, gen) : randomI32(t.shape, gen, 0, 4);
}

/// Integers in [lo, hi) for the operand `which`, defaults elsewhere.
Fill ints(int which, int lo, int hi) {
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    return k == which ? randomI32(t.shape, gen, lo, hi) : defaultFill(t, gen);
  };
}

/// Targets in [lo, hi) with about a fifth of them set to `ignore`.
Fill targets(int which, int lo, int hi, int ignore) {
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    if (k != which) return defaultFill(t, gen);
    Tensor x = randomI32(t.shape, gen, lo, hi);
    for (size_t j = 0; j < x.i.size(); j += 5)
      x.i[j] = ignore;
    return x;
  };
}

Fill positive(int which, float lo, float hi) {
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    return k == which ? randomF32(t.shape, gen, lo, hi) : defaultFill(t, gen);
  };
}

Fill scalars(std::map<int, double> values) {
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    auto it = values.find(k);
    if (it == values.end()) return defaultFill(t, gen);
    return t.dtype == DType::f32 ? Tensor::scalarF32(float(it->second))
                                 : Tensor::scalarI32(int32_t(it->second));
  };
}

/// x for qlinear/qmatmul with xblock: uniform(-2, 2), then in row 0 a first piece of 32 whose
/// largest |x| is 127 and the rest halves (d_x = 1: the ties 2.5 -> 3, -0.5 -> -1 decide q), a
/// second piece of zeros in every row (d_x = 0), and the last row, when there are two or more,
/// all zeros.
Fill quantizedX() {
  return [](int k, const TensorType& t, std::mt19937& gen) {
    if (k != 0) return defaultFill(t, gen);
    Tensor x = randomF32(t.shape, gen, -2.0f, 2.0f);
    const int64_t K = t.shape.back(), rows = t.numel() / K;
    for (int64_t j = 0; j < std::min<int64_t>(K, 32); ++j)
      x.f[j] = j == 3 ? 127.0f : float(j % 7) - 2.5f;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 32; j < std::min<int64_t>(K, 64); ++j)
        x.f[r * K + j] = 0.0f;
    if (rows > 1) std::fill(x.f.end() - K, x.f.end(), 0.0f);
    return x;
  };
}

/// Softmax-like rows with -inf entries: a fully masked row, a row masked but one, scattered -inf.
Fill masked(float lo, float hi) {
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    Tensor x = randomF32(t.shape, gen, lo, hi);
    int64_t C = t.shape.back();
    const float inf = std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < C; ++c)
      x.f[c] = -inf; // row 0: all masked
    if (x.f.size() >= size_t(2 * C))
      for (int64_t c = 1; c < C; ++c)
        x.f[C + c] = -inf; // row 1: one left
    for (size_t j = 2 * C; j < x.f.size(); j += 7)
      x.f[j] = -inf; // scattered
    return x;
  };
}

/// A deterministic padding mask: 0/1 in a fixed pattern, key 0 of batch row 0 kept, and batch
/// row 1 (when there is one) entirely padding: its weights are 0 and its output rows 0.
Tensor attentionKeep(const TensorType& t) {
  Tensor x(t);
  int64_t per = t.numel() / t.shape[0];
  for (int64_t j = 0; j < t.numel(); ++j)
    x.f[j] = (j * 7 + 3) % 5 != 0 && !(j >= per && j < 2 * per) ? 1.0f : 0.0f;
  x.f[0] = 1;
  return x;
}

/// Attention's operands: q, k, v (and dout) uniform(-2, 2); keep (padded) attentionKeep; the seed
/// (p > 0) 1234. For attention_grad operand 3 is the forward result of q, k, v, keep, seed (the
/// interpreter's), as autodiff passes it.
Fill attentionFill(Attrs attrs, bool grad) {
  auto made = std::make_shared<std::vector<Tensor>>();
  bool padded = attrInt(attrs, "padded") != 0;
  bool dropout = attrFloat(attrs, "p") > 0;
  int first = grad ? 5 : 3;
  int keepAt = padded ? first : -1, seedAt = dropout ? first + padded : -1;
  return [=](int k, const TensorType& t, std::mt19937& gen) {
    if (k == 0) made->clear();
    Tensor x;
    if (k == keepAt) {
      x = attentionKeep(t);
    } else if (k == seedAt) {
      x = Tensor::scalarI32(1234);
    } else if (grad && k == 3) {
      const Tensor &q = (*made)[0], &kk = (*made)[1];
      Shape ks(q.type.shape.begin(), q.type.shape.end() - 1); // keep's type: [B,1,1,Tk]
      ks.assign(ks.size() + 1, 1);
      ks[0] = q.type.shape[0];
      ks.back() = kk.type.shape[kk.type.rank() - 2];
      Tensor keep = attentionKeep({DType::f32, ks}), seed = Tensor::scalarI32(1234);
      std::vector<const Tensor*> in{&(*made)[0], &(*made)[1], &(*made)[2]};
      if (padded) in.push_back(&keep);
      if (dropout) in.push_back(&seed);
      std::string err = evalOp(OpKind::Attention, in, attrs, x);
      REQUIRE_MESSAGE(err.empty(), err);
    } else {
      x = randomF32(t.shape, gen);
    }
    made->push_back(x);
    return x;
  };
}

Attrs A(std::initializer_list<std::pair<const std::string, AttrValue>> l) {
  return Attrs(l);
}
AttrValue I(int64_t v) {
  return AttrValue(v);
}
AttrValue F(double v) {
  return AttrValue(v);
}
AttrValue L(std::vector<int64_t> v) {
  return AttrValue(std::move(v));
}

std::vector<Case> cases() {
  using K = OpKind;
  std::vector<Case> c;
  for (K k : {K::Add, K::Sub, K::Mul, K::Div}) {
    Fill fl = k == K::Div ? positive(1, 0.5f, 2.0f) : Fill{};
    c.push_back({k, {f({3, 5, 17}), f({3, 5, 17})}, {}, fl, "same shape"});
    c.push_back({k, {f({2, 7, 33}), f({33})}, {}, fl, "bias"});
    c.push_back({k, {f({4, 3, 5, 6}), f({4, 1, 1, 6})}, {}, fl, "mask-like"});
    c.push_back({k, {f({1, 37}), f({5, 1})}, {}, fl, "both broadcast"});
    c.push_back({k, {f({}), f({7})}, {}, fl, "scalar"});
    c.push_back({k, {f({2, 1, 8}), f({2, 1, 8})}, {}, fl, "T=1"});
    c.push_back({k, {f({1, 20000}), f({1, 20000})}, {}, fl, "one long row"});
  }
  c.push_back({K::Scale, {f({5, 19})}, A({{"s", F(0.37)}}), {}, ""});
  c.push_back({K::Gelu, {f({4, 37})}, {}, positive(0, -8, 8), "wide range"});
  c.push_back({K::Gelu, {f({1000})}, {}, {}, ""});
  c.push_back({K::Relu, {f({3, 17})}, {}, {}, ""});
  c.push_back({K::GeluGrad, {f({3, 29}), f({3, 29})}, {}, positive(0, -6, 6), ""});
  c.push_back({K::ReluGrad, {f({3, 29}), f({3, 29})}, {}, {}, ""});
  for (double p : {0.0, 0.1, 0.5})
    c.push_back({K::Dropout,
                 {f({4, 33}), i({})},
                 A({{"p", F(p)}, {"salt", I(3)}}),
                 scalars({{1, 1234}}),
                 fmt::format("p={}", p)});
  c.push_back({K::MatMul, {f({2, 3, 5, 7}), f({2, 3, 7, 4})}, {}, {}, "batched"});
  c.push_back({K::MatMul, {f({2, 5, 7}), f({2, 4, 7})}, A({{"tb", I(1)}}), {}, "tb"});
  c.push_back({K::MatMul, {f({2, 7, 5}), f({2, 7, 4})}, A({{"ta", I(1)}}), {}, "ta"});
  c.push_back(
      {K::MatMul, {f({2, 7, 5}), f({2, 4, 7})}, A({{"ta", I(1)}, {"tb", I(1)}}), {}, "ta tb"});
  c.push_back({K::MatMul, {f({3, 5, 7}), f({7, 9})}, {}, {}, "2-D b"});
  c.push_back(
      {K::MatMul, {f({3, 5, 7}), f({9, 7})}, A({{"tb", I(1)}}), {}, "2-D b, tb (tied logits)"});
  c.push_back({K::MatMul, {f({2, 7, 5}), f({7, 3})}, A({{"ta", I(1)}}), {}, "2-D b, ta"});
  c.push_back({K::Linear, {f({2, 5, 17}), f({9, 17}), f({9})}, {}, {}, ""});
  c.push_back({K::Linear, {f({1, 33}), f({64, 33}), f({64})}, {}, {}, "one row"});
  c.push_back({K::LayerNorm, {f({3, 5, 37}), f({37}), f({37})}, {}, {}, ""});
  c.push_back({K::LayerNorm, {f({1, 8}), f({8}), f({8})}, A({{"eps", F(1e-3)}}), {}, "T=1"});
  c.push_back({K::LayerNormGradX, {f({3, 5, 37}), f({37}), f({3, 5, 37})}, {}, {}, ""});
  c.push_back({K::LayerNormGradW, {f({3, 5, 37}), f({3, 5, 37})}, {}, {}, ""});
  c.push_back(
      {K::LayerNormGradW, {f({2, 3}), f({2, 3})}, {}, {}, "fewer columns than threads x lanes"});
  c.push_back({K::Softmax, {f({3, 4, 19})}, {}, masked(-5, 5), "masked rows"});
  c.push_back({K::Softmax, {f({2, 1})}, {}, {}, "one column"});
  c.push_back({K::Softmax, {f({2, 300})}, {}, positive(0, -30, 30), "wide"});
  c.push_back({K::SoftmaxGrad, {f({3, 4, 19}), f({3, 4, 19})}, {}, positive(0, 0, 1), ""});
  c.push_back({K::CausalMask, {f({2, 3, 5, 5})}, {}, {}, ""});
  c.push_back({K::CausalMask, {f({2, 4, 7})}, A({{"offset", I(2)}}), {}, "offset"});
  c.push_back({K::MaskFill,
               {f({2, 3, 4, 6}), f({2, 1, 1, 6})},
               {},
               [](int k, const TensorType& t, std::mt19937& g) {
                 if (k == 0) return randomF32(t.shape, g);
                 Tensor keep(t); // 0/1 as f32, the way pad_mask makes it
                 std::uniform_int_distribution<int> d(0, 1);
                 for (float& v : keep.f)
                   v = float(d(g));
                 return keep;
               },
               "f32 keep"});
  c.push_back(
      {K::MaskFill, {f({3, 4, 6}), i({4, 6})}, A({{"value", F(-1e9)}}), ints(1, 0, 2), "i32 keep"});
  c.push_back({K::PadMask, {i({3, 7})}, {}, ints(0, 0, 3), ""});
  c.push_back({K::PadMask, {i({3, 7})}, A({{"pad", I(2)}}), ints(0, 0, 3), "pad=2"});
  c.push_back({K::Reshape, {f({2, 3, 4})}, A({{"shape", L({6, 4})}}), {}, ""});
  c.push_back({K::Reshape, {i({2, 3, 4})}, A({{"shape", L({4, -1})}}), ints(0, -100, 100), "i32"});
  c.push_back({K::Transpose, {f({2, 3, 5})}, A({{"perm", L({2, 0, 1})}}), {}, ""});
  c.push_back({K::Transpose, {i({3, 17})}, A({{"perm", L({1, 0})}}), ints(0, -9, 9), "i32"});
  c.push_back({K::SplitHeads, {f({2, 5, 12})}, A({{"heads", I(3)}}), {}, ""});
  c.push_back({K::MergeHeads, {f({2, 3, 5, 4})}, {}, {}, ""});
  c.push_back({K::Slice,
               {f({2, 5, 12})},
               A({{"axis", I(2)}, {"start", I(4)}, {"end", I(9)}}),
               {},
               "last axis"});
  c.push_back(
      {K::Slice, {f({7, 5})}, A({{"axis", I(0)}, {"start", I(0)}, {"end", I(3)}}), {}, "axis 0"});
  c.push_back({K::Slice,
               {i({2, 9})},
               A({{"axis", I(-1)}, {"start", I(1)}, {"end", I(8)}}),
               ints(0, 0, 50),
               "i32"});
  c.push_back(
      {K::Pad, {f({2, 5, 3})}, A({{"axis", I(1)}, {"before", I(2)}, {"after", I(1)}}), {}, ""});
  c.push_back(
      {K::Pad, {f({4})}, A({{"axis", I(0)}, {"before", I(0)}, {"after", I(3)}}), {}, "1-D"});
  c.push_back({K::Concat, {f({2, 3, 4}), f({2, 5, 4})}, A({{"axis", I(1)}}), {}, ""});
  c.push_back({K::Concat, {f({2, 3}), f({2, 1}), f({2, 4})}, A({{"axis", I(-1)}}), {}, "three"});
  c.push_back({K::Select, {f({3, 4, 5})}, A({{"index", I(2)}}), {}, ""});
  c.push_back({K::Stack, {f({3, 4}), f({3, 4}), f({3, 4})}, {}, {}, ""});
  c.push_back({K::Broadcast, {f({3, 1})}, A({{"shape", L({2, 3, 5})}}), {}, ""});
  for (K k : {K::ReduceSum, K::ReduceMean, K::ReduceMax}) {
    c.push_back({k, {f({3, 5, 37})}, A({{"axes", L({2})}}), {}, "last axis"});
    c.push_back({k, {f({4, 6, 19})}, A({{"axes", L({0, 1})}}), {}, "leading (bias grad)"});
    c.push_back({k, {f({4, 6, 9})}, A({{"axes", L({0, 2})}}), {}, "non-contiguous"});
    c.push_back(
        {k, {f({4, 6, 9})}, A({{"axes", L({1})}, {"keepdims", I(1)}}), {}, "middle keepdims"});
    c.push_back({k, {f({5, 7})}, A({{"axes", L({0, 1})}}), {}, "all"});
  }
  c.push_back({K::Embedding, {i({2, 5}), f({11, 13})}, {}, ints(0, 0, 11), ""});
  c.push_back({K::EmbeddingGrad,
               {i({2, 5}), f({2, 5, 9})},
               A({{"rows", I(7)}}),
               ints(0, 0, 3),
               "repeated ids"});
  c.push_back({K::Sinusoidal, {}, A({{"rows", I(7)}, {"dim", I(10)}}), {}, ""});
  c.push_back({K::CrossEntropy, {f({2, 5, 11}), i({2, 5})}, {}, targets(1, 0, 11, -1), ""});
  c.push_back({K::CrossEntropy,
               {f({2, 5, 12}), i({2, 5})},
               A({{"classes", I(9)}}),
               targets(1, 0, 9, -1),
               "padded vocab"});
  c.push_back({K::CrossEntropy,
               {f({3, 7}), i({3})},
               A({{"ignore_index", I(0)}}),
               targets(1, 0, 7, 0),
               "ignore 0"});
  c.push_back({K::CrossEntropyGrad,
               {f({2, 5, 11}), i({2, 5}), f({})},
               {},
               [](int k, const TensorType& t, std::mt19937& g) {
                 return k == 1   ? targets(1, 0, 11, -1)(k, t, g)
                        : k == 2 ? Tensor::scalarF32(0.7f)
                                 : randomF32(t.shape, g);
               },
               ""});
  c.push_back({K::CrossEntropyGrad,
               {f({2, 5, 12}), i({2, 5}), f({})},
               A({{"classes", I(9)}}),
               [](int k, const TensorType& t, std::mt19937& g) {
                 return k == 1   ? targets(1, 0, 9, -1)(k, t, g)
                        : k == 2 ? Tensor::scalarF32(1.0f)
                                 : randomF32(t.shape, g);
               },
               "padded vocab"});
  // The fused LM head (lower_lm_head.cpp): rows in chunks of 128 (a short last chunk), w's rows in
  // slices of 128 (a short last slice), dw's rows in blocks of 512 (two blocks, the last short).
  struct Head {
    Shape x;
    int64_t N, classes, ignore;
    const char* label;
  };
  for (const Head& h : std::vector<Head>{
           {{2, 3, 8}, 7, 0, -1, "one short chunk"},
           {{2, 150, 24}, 300, 290, -1, "3 chunks, 3 slices, padded vocab"},
           {{3, 200, 16}, 140, 0, 0, "2 dw blocks, ignore 0"},
       }) {
    Shape rows(h.x.begin(), h.x.end() - 1);
    Attrs attrs = A({{"classes", I(h.classes)}, {"ignore_index", I(h.ignore)}});
    int64_t classes = h.classes ? h.classes : h.N;
    int ignore = int(h.ignore);
    auto fill = [=](int k, const TensorType& t, std::mt19937& g) {
      return k == 2   ? targets(2, 0, int(classes), ignore)(k, t, g)
             : k == 3 ? Tensor::scalarF32(0.7f)
                      : randomF32(t.shape, g);
    };
    TensorType x = f(h.x), w = f({h.N, h.x.back()});
    c.push_back({K::LinearCrossEntropy, {x, w, i(rows)}, attrs, fill, h.label});
    c.push_back({K::LinearCrossEntropyGrad, {x, w, i(rows), f({})}, attrs, fill, h.label});
  }
  c.push_back({K::Fill, {}, A({{"shape", L({3, 5})}, {"value", F(0.25)}}), {}, ""});
  c.push_back({K::AdamWMoment1, {f({5, 17}), f({5, 17})}, A({{"beta", F(0.9)}}), {}, ""});
  c.push_back(
      {K::AdamWMoment2, {f({5, 17}), f({5, 17})}, A({{"beta", F(0.95)}}), positive(0, 0, 1), ""});
  c.push_back({K::AdamWUpdate,
               {f({5, 17}), f({5, 17}), f({5, 17}), f({}), i({})},
               A({{"beta1", F(0.9)}, {"beta2", F(0.95)}, {"eps", F(1e-8)}, {"wd", F(0.1)}}),
               [](int k, const TensorType& t, std::mt19937& g) {
                 if (k == 2) return randomF32(t.shape, g, 0, 1);
                 if (k == 3) return Tensor::scalarF32(1e-3f);
                 if (k == 4) return Tensor::scalarI32(3);
                 return randomF32(t.shape, g);
               },
               ""});
  c.push_back({K::AdamWMoment1,
               {f({5, 17}), f({5, 17}), f({})},
               A({{"beta", F(0.9)}}),
               scalars({{2, 0.37}}),
               "clipped"});
  c.push_back({K::AdamWMoment2,
               {f({5, 17}), f({5, 17}), f({})},
               A({{"beta", F(0.95)}}),
               [](int k, const TensorType& t, std::mt19937& g) {
                 return k == 0   ? randomF32(t.shape, g, 0, 1)
                        : k == 2 ? Tensor::scalarF32(0.37f)
                                 : randomF32(t.shape, g);
               },
               "clipped"});
  c.push_back({K::GlobalNorm, {f({5, 7}), f({33})}, {}, {}, ""});
  // blocks of 4096 numbered across operands (2 + 4 + 1 + 3): the threads' ranges cut operands
  c.push_back({K::GlobalNorm, {f({5000}), f({3, 4097}), f({7}), f({9000})}, {}, {}, "many blocks"});
  c.push_back({K::DynamicSlice,
               {f({7, 5}), i({})},
               A({{"axis", I(0)}, {"size", I(2)}}),
               scalars({{1, 3}}),
               ""});
  c.push_back({K::DynamicSlice,
               {f({2, 6, 3}), i({})},
               A({{"axis", I(1)}, {"size", I(4)}}),
               scalars({{1, 10}}),
               "start clamped"});
  c.push_back({K::DynamicUpdateSlice,
               {f({2, 3, 8, 5}), f({2, 3, 1, 5}), i({})},
               A({{"axis", I(2)}}),
               scalars({{2, 5}}),
               "one row (a KV cache append)"});
  c.push_back({K::DynamicUpdateSlice,
               {f({2, 9, 3}), f({2, 4, 3}), i({})},
               A({{"axis", I(1)}}),
               scalars({{2, -3}}),
               "start clamped"});
  c.push_back({K::CausalMaskAt, {f({2, 3, 4, 9}), i({})}, {}, scalars({{1, 2}}), ""});
  c.push_back({K::CausalMaskAt, {f({1, 2, 1, 17}), i({})}, {}, scalars({{1, 11}}), "decode"});
  // cache_matmul: rows 0..pos+T-1 of the cache, zeros past them; pos clamped to [0, ctx-T]
  c.push_back({K::CacheMatMul, {f({1, 3, 1, 16}), f({1, 3, 9, 16}), i({})}, {}, scalars({{2, 4}}),
               "decode, pos 4"});
  c.push_back({K::CacheMatMul, {f({2, 2, 3, 8}), f({2, 2, 11, 8}), i({})}, {}, scalars({{2, 5}}),
               "3 tokens, pos 5"});
  c.push_back({K::CacheMatMul, {f({2, 1, 5}), f({2, 7, 5}), i({})}, {}, scalars({{2, 0}}),
               "pos 0, odd D"});
  c.push_back({K::CacheMatMul, {f({1, 2, 2, 8}), f({1, 2, 6, 8}), i({})}, {}, scalars({{2, 40}}),
               "pos past the end: clamped"});
  c.push_back({K::CacheMatMul, {f({1, 2, 1, 8}), f({1, 2, 6, 8}), i({})}, {}, scalars({{2, -3}}),
               "negative pos: clamped"});

  // fused kinds (passes/fuse.cpp): the interpreter runs the unfused ops in sequence
  c.push_back({K::ScaleMaskSoftmax, {f({2, 3, 5, 5})}, A({{"s", F(0.125)}}), {}, "causal"});
  c.push_back({K::ScaleMaskSoftmax, {f({2, 4, 7})}, A({{"s", F(3.0)}, {"offset", I(-2)}}), {},
               "offset -2: masked rows"});
  c.push_back({K::ScaleMaskSoftmax, {f({2, 300})}, A({{"offset", I(300)}}),
               positive(0, -30, 30), "wide, unmasked"});
  Fill softmaxGradFill = [](int k, const TensorType& t, std::mt19937& g) {
    if (k == 0) return randomF32(t.shape, g, 0, 1);
    if (k == 2 && t.dtype == DType::f32) {
      Tensor keep = randomI32(t.shape, g, 0, 2);
      Tensor out(t);
      for (size_t j = 0; j < out.f.size(); ++j)
        out.f[j] = float(keep.i[j]);
      return out;
    }
    if (k == 2) return randomI32(t.shape, g, 0, 2);
    return randomF32(t.shape, g);
  };
  c.push_back({K::MaskedSoftmaxGrad, {f({2, 3, 5, 5}), f({2, 3, 5, 5}), f({5, 5})},
               A({{"s", F(0.125)}}), softmaxGradFill, "f32 keep"});
  c.push_back({K::MaskedSoftmaxGrad, {f({3, 19}), f({3, 19}), i({19})}, {}, softmaxGradFill,
               "i32 keep row"});
  c.push_back({K::LinearGelu, {f({2, 5, 17}), f({9, 17}), f({9})}, {}, {}, ""});
  c.push_back({K::LinearGelu, {f({3, 37, 40}), f({70, 40}), f({70})}, {}, positive(0, -1, 1),
               "edge tiles"});
  c.push_back({K::MatMulGeluGrad, {f({3, 5, 7}), f({7, 9}), f({3, 5, 9})}, {},
               positive(2, -6, 6), "2-D b"});
  c.push_back({K::MatMulGeluGrad, {f({2, 7, 5}), f({2, 7, 37}), f({2, 5, 37})}, A({{"ta", I(1)}}),
               positive(2, -6, 6), "batched ta"});
  c.push_back({K::MatMulGeluGrad, {f({2, 5, 7}), f({2, 37, 7}), f({2, 5, 37})},
               A({{"tb", I(1)}}), positive(2, -6, 6), "batched tb"});
  c.push_back({K::EmbeddingGradAdd,
               {f({7, 9}), i({2, 5}), f({2, 5, 9})},
               {},
               ints(1, 0, 3),
               "repeated ids, untouched rows"});
  c.push_back({K::EmbeddingGradAdd,
               {f({5, 2100}), i({9}), f({9, 2100})},
               {},
               ints(1, 0, 4),
               "wide rows: several column tiles per thread"});
  // today's Transformer (issue #20)
  c.push_back({K::RMSNorm, {f({3, 5, 37}), f({37})}, {}, {}, ""});
  c.push_back({K::RMSNorm, {f({1, 8}), f({8})}, A({{"eps", F(1e-3)}}), {}, "T=1"});
  c.push_back({K::RMSNormGradX, {f({3, 5, 37}), f({37}), f({3, 5, 37})}, {}, {}, ""});
  c.push_back({K::RMSNormGradW, {f({3, 5, 37}), f({3, 5, 37})}, {}, {}, ""});
  c.push_back(
      {K::RMSNormGradW, {f({2, 3}), f({2, 3})}, {}, {}, "fewer columns than threads x lanes"});
  c.push_back({K::Silu, {f({4, 37})}, {}, positive(0, -20, 20), "wide range"});
  c.push_back({K::Silu, {f({1000})}, {}, {}, ""});
  c.push_back({K::SiluGrad, {f({3, 29}), f({3, 29})}, {}, positive(0, -20, 20), ""});
  c.push_back({K::SwiGLU, {f({2, 5, 43}), f({2, 5, 43})}, {}, positive(0, -8, 8), ""});
  c.push_back({K::Rope, {f({2, 3, 7, 16})}, {}, {}, "half-split"});
  c.push_back({K::Rope, {f({2, 3, 7, 16})}, A({{"interleaved", I(1)}}), {}, "interleaved"});
  c.push_back({K::Rope, {f({3, 5, 10})}, A({{"theta", F(500.0)}, {"inverse", I(1)}}), {},
               "inverse, rank 3"});
  c.push_back({K::Rope, {f({2, 4, 1, 32}), i({})}, {}, scalars({{1, 97}}), "decode step at 97"});
  c.push_back({K::Rope, {f({1, 2, 5, 8}), i({})}, A({{"interleaved", I(1)}}), scalars({{1, 3}}),
               "prefill at 3, interleaved"});
  c.push_back({K::Alibi, {f({2, 4, 5, 5})}, {}, {}, ""});
  c.push_back({K::Alibi, {f({3, 1, 7})}, A({{"offset", I(6)}}), {}, "decode row, offset"});
  // einsum's fallback kernel (pipelines rewrite einsum first: passes/lower_einsum.cpp)
  c.push_back({K::Einsum, {f({2, 3, 5, 8}), f({2, 3, 7, 8})},
               A({{"spec", std::string("b h t d, b h s d -> b h t s")}}), {}, "attention scores"});
  c.push_back({K::Einsum, {f({2, 5, 3, 4}), f({6, 3, 4})},
               A({{"spec", std::string("b t h d, e h d -> e b t")}}), {}, "two summed axes"});
  c.push_back({K::Einsum, {f({3, 4, 5})}, A({{"spec", std::string("a b c -> c a")}}), {},
               "sum and transpose"});
  c.push_back({K::Einsum, {f({4, 9}), f({4, 9})}, A({{"spec", std::string("i j, i j ->")}}), {},
               "a scalar"});
  // Quantized weights: the vector path (K a multiple of 32: blocks of 32, per-row scales, bf16)
  // and the scalar one (odd K, blocks of 8), up to the GEMV's 4 rows and past them.
  c.push_back({K::Dequantize, {bf({3, 40})}, {}, {}, "bf16"});
  c.push_back({K::Dequantize, {q8({2, 3, 64}), f({2, 3, 2})}, {}, {}, "i8 blocks of 32"});
  c.push_back({K::Dequantize, {q8({5, 40}), f({5, 1})}, {}, {}, "i8 row scales"});
  c.push_back({K::QMatMul, {f({1, 1, 64}), bf({37, 64})}, {}, {}, "bf16, one row"});
  c.push_back({K::QMatMul, {f({3, 40}), bf({9, 40})}, {}, {}, "bf16, odd K"});
  c.push_back({K::QMatMul, {f({2, 96}), q8({19, 96}), f({19, 3})}, {}, {}, "i8 blocks of 32"});
  c.push_back({K::QMatMul, {f({1, 96}), q8({7, 96}), f({7, 1})}, {}, {}, "i8 row scales"});
  c.push_back({K::QMatMul, {f({3, 40}), q8({5, 40}), f({5, 5})}, {}, {}, "i8 odd K, blocks of 8"});
  c.push_back({K::QLinear, {f({1, 1, 96}), bf({33, 96}), f({33})}, {}, {}, "bf16"});
  c.push_back({K::QLinear, {f({4, 64}), q8({17, 64}), f({17}), f({17, 2})}, {}, {}, "i8, 4 rows"});
  c.push_back({K::QLinear, {f({2, 3, 64}), q8({11, 64}), f({11}), f({11, 2})}, {}, {}, "6 rows"});
  // Row counts of every remainder mod 4 and 2 (for a kernel that blocks rows of w), 1-3 rows of
  // x, and blocks of 64 (two vector steps a block).
  c.push_back({K::QMatMul, {f({1, 64}), q8({8, 64}), f({8, 2})}, {}, {}, "i8, R 4, no rest"});
  c.push_back({K::QMatMul, {f({1, 96}), q8({10, 96}), f({10, 3})}, {}, {}, "i8, R 4, rest 2"});
  c.push_back({K::QMatMul, {f({1, 64}), q8({11, 64}), f({11, 2})}, {}, {}, "i8, R 4, rest 3"});
  c.push_back({K::QMatMul, {f({1, 128}), q8({9, 128}), f({9, 2})}, {}, {}, "i8 blocks of 64"});
  c.push_back({K::QMatMul, {f({2, 64}), bf({6, 64})}, {}, {}, "bf16, R 2, no rest"});
  c.push_back({K::QMatMul, {f({3, 64}), bf({5, 64})}, {}, {}, "bf16, 3 rows of x"});
  c.push_back({K::QMatMul, {f({1, 32}), bf({3, 32})}, {}, {}, "bf16, fewer rows than R"});
  c.push_back({K::QLinear, {f({1, 1, 64}), q8({13, 64}), f({13}), f({13, 2})}, {}, {},
               "i8, one row, rest 1"});
  c.push_back({K::QLinear, {f({2, 96}), q8({7, 96}), f({7}), f({7, 1})}, {}, {},
               "i8 row scales, R 2, rest 1"});
  // x quantized too (xblock, integer dot products): the vector path (pieces of 32 inside blocks
  // of 32 or 64, or one scale per row; an even and an odd number of pieces) and the scalar one
  // (K = 40: pieces of 32 and 8 under one row scale; blocks of 8; pieces of 16), 1 to 6 rows.
  const Attrs xq = A({{"xblock", I(32)}});
  c.push_back({K::QMatMul, {f({2, 96}), q8({19, 96}), f({19, 3})}, xq, quantizedX(), "x i8, 32s"});
  c.push_back({K::QMatMul, {f({1, 128}), q8({9, 128}), f({9, 2})}, xq, quantizedX(), "x i8, 64s"});
  c.push_back({K::QMatMul, {f({1, 96}), q8({7, 96}), f({7, 1})}, xq, quantizedX(), "x i8, row"});
  c.push_back({K::QMatMul, {f({3, 64}), q8({5, 64}), f({5, 1})}, xq, quantizedX(), "x i8, row 2"});
  c.push_back({K::QMatMul, {f({2, 40}), q8({5, 40}), f({5, 1})}, xq, quantizedX(), "x i8, K 40"});
  c.push_back({K::QMatMul, {f({3, 40}), q8({5, 40}), f({5, 5})}, xq, quantizedX(), "x i8, 8s"});
  c.push_back({K::QMatMul,
               {f({2, 96}), q8({6, 96}), f({6, 3})},
               A({{"xblock", I(16)}}),
               quantizedX(),
               "x i8 in pieces of 16"});
  c.push_back({K::QLinear,
               {f({4, 64}), q8({17, 64}), f({17}), f({17, 2})},
               xq,
               quantizedX(),
               "x i8, 4 rows"});
  c.push_back({K::QLinear,
               {f({2, 3, 64}), q8({11, 64}), f({11}), f({11, 2})},
               xq,
               quantizedX(),
               "x i8, 6 rows"});
  c.push_back({K::QLinear,
               {f({1, 1, 96}), q8({13, 96}), f({13}), f({13, 1})},
               xq,
               quantizedX(),
               "x i8, one row, row scales"});
  // fused attention (passes/fuse_attention.cpp): forward and its packed gradient, each case
  // with and without the backward. Padding masks are [B,1,1,Tk] (attentionKeep).
  struct Att {
    Shape q, k;
    int64_t dv;
    Attrs attrs;
    std::string label;
  };
  std::vector<Att> atts = {
      {{2, 3, 5, 8}, {2, 3, 5, 8}, 8, A({{"s", F(0.35)}, {"causal", I(1)}}), "causal"},
      {{1, 2, 70, 8},
       {1, 2, 70, 8},
       8,
       A({{"s", F(0.35)}, {"causal", I(1)}}),
       "T = 70: a key block of 64 and one of 6"},
      {{2, 2, 4, 8},
       {2, 2, 6, 8},
       5,
       A({{"s", F(0.5)}, {"padded", I(1)}}),
       "padding, Tq != Tk, Dv != D, a fully padded batch row"},
      {{2, 3, 9, 8},
       {2, 3, 9, 8},
       8,
       A({{"causal", I(1)}, {"p", F(0.2)}, {"salt", I(7)}}),
       "causal + dropout"},
      {{2, 2, 7, 4},
       {2, 2, 7, 4},
       4,
       A({{"s", F(0.7)}, {"causal", I(1)}, {"padded", I(1)}, {"p", F(0.1)}, {"salt", I(3)}}),
       "causal + padding + dropout (seq2seq's decoder)"},
      {{2, 2, 1, 8},
       {2, 2, 9, 8},
       8,
       A({{"causal", I(1)}, {"offset", I(8)}}),
       "one query row at position 8"},
      {{2, 3, 4, 8}, {2, 3, 1, 8}, 8, A({{"s", F(0.3)}}), "one key"},
      {{1, 2, 5, 8},
       {1, 2, 5, 8},
       8,
       A({{"causal", I(1)}, {"offset", I(-2)}}),
       "offset -2: rows with no visible key give 0"},
      // the tiles of codegen/lower_attention.cpp: forward 64 query rows × 32 keys, backward 32 ×
      // 32 (shorter sequences: their own size, rows rounded to 6 and keys to 16), D and Dv padded
      // to 16 in the packed buffers
      {{1, 2, 40, 8},
       {1, 2, 20, 8},
       8,
       A({{"s", F(0.4)}, {"padded", I(1)}}),
       "Tq 40, Tk 20: a forward tile of 42 rows × 32 keys, backward 32 + 8 rows"},
      {{1, 2, 100, 20},
       {1, 2, 100, 20},
       20,
       A({{"s", F(0.25)}, {"causal", I(1)}, {"p", F(0.1)}, {"salt", I(5)}}),
       "T = 100, D = 20: two forward tiles (64 + 36 rows), four key blocks, D padded"},
      {{2, 1, 33, 16},
       {2, 1, 97, 16},
       24,
       A({{"s", F(0.3)}, {"padded", I(1)}}),
       "Tq 33, Tk 97 (a query tile of 1 row past 32, a key block of 1), padding, Dv 24"},
      {{1, 1, 65, 64},
       {1, 1, 65, 64},
       64,
       A({{"s", F(0.125)}, {"causal", I(1)}, {"offset", I(-31)}}),
       "D = 64 unpadded, T = 65, offset -31: causal key blocks a tile never sees"},
  };
  for (const Att& t : atts) {
    Shape vs = t.k;
    vs.back() = t.dv;
    Shape os = t.q;
    os.back() = t.dv;
    Shape ks(t.q.size(), 1);
    ks[0] = t.q[0];
    ks.back() = t.k[t.k.size() - 2];
    Attrs attrs = t.attrs;
    REQUIRE(completeAttrs(K::Attention, attrs).empty());
    std::vector<TensorType> opt;
    if (attrInt(attrs, "padded")) opt.push_back(f(ks));
    if (attrFloat(attrs, "p") > 0) opt.push_back(i({}));
    std::vector<TensorType> fwd{f(t.q), f(t.k), f(vs)}, bwd{f(t.q), f(t.k), f(vs), f(os), f(os)};
    fwd.insert(fwd.end(), opt.begin(), opt.end());
    bwd.insert(bwd.end(), opt.begin(), opt.end());
    c.push_back({K::Attention, fwd, attrs, attentionFill(attrs, false), t.label});
    c.push_back({K::AttentionGrad, bwd, attrs, attentionFill(attrs, true), t.label});
  }
  c.push_back({K::ClipScale, {f({})}, A({{"max_norm", F(1.0)}}), scalars({{0, 3.7}}), "clips"});
  c.push_back(
      {K::ClipScale, {f({})}, A({{"max_norm", F(1.0)}}), scalars({{0, 0.5}}), "does not clip"});
  // Collectives on 1 rank (copies); on 2 ranks: tests/mpi/test_collectives.cpp.
  c.push_back({K::AllReduce, {f({3, 5})}, {}, {}, "1 rank"});
  c.push_back({K::ReduceScatter, {f({3, 5})}, A({{"ranks", I(1)}}), {}, "1 rank"});
  c.push_back({K::AllGather, {f({15})}, A({{"ranks", I(1)}, {"shape", std::vector<int64_t>{3, 5}}}),
               {}, "1 rank"});
  c.push_back({K::Dropout, {f({4, 6}), i({}), i({})}, A({{"p", F(0.5)}}), scalars({{1, 7}, {2, 3}}),
               "row0"});
  return c;
}

// Every op kind has a lowering by construction: codegen/lower_table.cpp takes the address of
// lower_<E> for every ops.def row, so a missing one does not link.
TEST_CASE("every op kind has a differential test case") {
  std::set<OpKind> covered;
  for (const Case& c : cases())
    covered.insert(c.kind);
  for (int k = 0; k < kNumOpKinds; ++k) {
    OpKind kind = OpKind(k);
    CHECK_MESSAGE(covered.count(kind), "op '", opName(kind),
                  "' has no case in tests/jit/test_ops.cpp");
  }
}

TEST_CASE("every op: JIT vs interpreter, 1 and 2 threads") {
  double worstForward = 0, worstGrad = 0;
  std::string worstForwardCase, worstGradCase;
  std::mt19937 gen(42);
  for (const Case& c : cases()) {
    std::string label = fmt::format("{} {}", opName(c.kind), c.label);
    CAPTURE(label);
    Graph g;
    std::vector<int> ids;
    std::map<std::string, Tensor> feeds;
    for (size_t k = 0; k < c.operands.size(); ++k) {
      std::string name = fmt::format("in{}", k);
      ids.push_back(g.addInput(name, c.operands[k]));
      feeds[name] = c.fill ? c.fill(int(k), c.operands[k], gen) : defaultFill(c.operands[k], gen);
    }
    Expected<int> r = g.addNode(c.kind, ids, c.attrs, {}, "out");
    REQUIRE_MESSAGE(bool(r), (bool(r) ? std::string() : r.error().message));
    g.outputs.push_back(*r);

    std::map<std::string, Tensor> ref = jittest::interpret(g, feeds);
    auto exe = jittest::build(g, naivePlan(g), feeds);
    auto one = jittest::execute(*exe, 1);
    auto two = jittest::execute(*exe, 2);
    CHECK_MESSAGE(jittest::sameBits(one["out"], two["out"]), "1 and 2 threads differ");
    // attention's output row i is Σⱼ wᵢⱼ·vⱼ, an average of values up to max|v| that cancel: an
    // element near 0 carries the rounding of terms as large as the row's largest element, so the
    // blocked online softmax is measured against the row's size (each element's error over the
    // largest |ref| in its row), not 1% of the whole tensor's
    jittest::Diff d = c.kind == OpKind::Attention ? jittest::compareRows(one["out"], ref["out"])
                                                  : jittest::compare(one["out"], ref["out"]);
    CHECK_MESSAGE(d.nanMismatch.empty(), d.nanMismatch);
    bool grad = isGradientOp(c.kind);
    double tol = grad ? 1e-4 : 1e-5;
    CHECK_MESSAGE(d.maxRel <= tol, "max relative error ", d.maxRel, " at element ", d.worst);
    if (c.kind == OpKind::Dropout) CHECK_MESSAGE(d.exactZeros, "dropout masks differ");
    double& worst = grad ? worstGrad : worstForward;
    if (d.maxRel > worst) {
      worst = d.maxRel;
      (grad ? worstGradCase : worstForwardCase) = label;
    }
  }
  MESSAGE(fmt::format("largest relative error: forward {:.3g} ({}), gradients {:.3g} ({})",
                      worstForward, worstForwardCase, worstGrad, worstGradCase));
}

TEST_CASE("embedding_grad_add in place rounds exactly as embedding_grad + add") {
  // The fused kernel's claim (ir/ops.def): bit for bit the two JIT kernels it replaces, on the
  // real memory plan, where it writes over its accumulator and touches only the rows of ids.
  // Ids repeat (a row's contributions are summed before the add) and leave rows untouched.
  for (std::array<int, 3> shape : {std::array{9, 13, 40}, std::array{6, 2100, 11}}) {
    int rows = shape[0], C = shape[1], n = shape[2];
    CAPTURE(C);
    auto make = [&](bool fused) {
      Graph g;
      int a = g.addInput("a", f({6, rows}));
      int h = g.addInput("h", f({6, C}));
      int ids = g.addInput("ids", i({n}));
      int dy = g.addInput("dy", f({n, C}));
      int acc = g.add(OpKind::MatMul, {a, h}, {{"ta", I(1)}}); // (rows,C), dies at the sum
      int eg = fused ? -1 : g.add(OpKind::EmbeddingGrad, {ids, dy}, {{"rows", I(rows)}});
      g.outputs.push_back(fused ? g.add(OpKind::EmbeddingGradAdd, {acc, ids, dy}, {}, {}, "out")
                                : g.add(OpKind::Add, {acc, eg}, {}, {}, "out"));
      return g;
    };
    std::mt19937 gen(7);
    Tensor ids = randomI32({n}, gen, 0, 4);
    ids.i[n - 1] = ids.i[0]; // the first and the last position share a row
    std::map<std::string, Tensor> feeds{{"a", randomF32({6, rows}, gen)},
                                        {"h", randomF32({6, C}, gen)},
                                        {"ids", ids},
                                        {"dy", randomF32({n, C}, gen, -100, 100)}};
    Graph fused = make(true), plain = make(false);
    MemoryPlan plan = planMemory(fused);
    REQUIRE(checkPlan(fused, plan).empty());
    int out = fused.find("out");
    CHECK_MESSAGE(plan.placement[out].viewOf == fused.nodes[fused.value(out).def].operands[0],
                  "the result does not take the accumulator's bytes");
    auto fusedExe = jittest::build(fused, plan, feeds);
    auto plainExe = jittest::build(plain, planMemory(plain), feeds);
    auto ref = jittest::execute(*plainExe, 2)["out"];
    for (int threads : {1, 2})
      CHECK_MESSAGE(jittest::sameBits(jittest::execute(*fusedExe, threads)["out"], ref), threads,
                    " thread(s): fused and unfused JIT differ");
    jittest::Diff d = jittest::compare(ref, jittest::interpret(fused, feeds)["out"]);
    CHECK(d.maxRel <= 1e-4);
  }
}

TEST_CASE("a clipped moment is bit for bit mul(g, clip) followed by the moment") {
  // passes/optimizer.cpp gives the moments the clip scale instead of a mul of its own; the numbers
  // must not move (the trainer's --resume and the PyTorch parity rely on them).
  std::mt19937 gen(7);
  for (OpKind kind : {OpKind::AdamWMoment1, OpKind::AdamWMoment2}) {
    CAPTURE(opName(kind));
    Graph g;
    const TensorType t{DType::f32, {3, 1000}};
    int m = g.addInput("m", t), grad = g.addInput("g", t);
    int clip = g.addInput("clip", {DType::f32, {}});
    Attrs beta{{"beta", kind == OpKind::AdamWMoment1 ? 0.9 : 0.95}};
    g.outputs.push_back(g.add(kind, {m, grad, clip}, beta, {}, "fused"));
    g.outputs.push_back(g.add(kind, {m, g.add(OpKind::Mul, {grad, clip})}, beta, {}, "unfused"));
    std::map<std::string, Tensor> feeds{{"m", randomF32(t.shape, gen, 0, 1)},
                                        {"g", randomF32(t.shape, gen)},
                                        {"clip", Tensor::scalarF32(0.2718f)}};
    std::map<std::string, Tensor> ref = jittest::interpret(g, feeds);
    CHECK(jittest::sameBits(ref["fused"], ref["unfused"]));
    auto exe = jittest::build(g, naivePlan(g), feeds);
    for (int threads : {1, 2}) {
      auto out = jittest::execute(*exe, threads);
      CHECK(jittest::sameBits(out["fused"], out["unfused"]));
    }
  }
}

TEST_CASE("two calls of one two-phase reduction: the second waits for the first combine") {
  // global_norm and cross_entropy keep their partials in one global per kernel (codegen/lower.h).
  // Two independent calls of the same kernel share it, so the step builder must put a barrier
  // between the first call's combine (thread 0 reads the partials) and the second call's partials.
  std::mt19937 gen(11);
  Graph g;
  const TensorType t{DType::f32, {3, 5000}};
  int a = g.addInput("a", t), b = g.addInput("b", t);
  g.outputs.push_back(g.add(OpKind::GlobalNorm, {a}, {}, {}, "na"));
  g.outputs.push_back(g.add(OpKind::GlobalNorm, {b}, {}, {}, "nb"));
  std::map<std::string, Tensor> feeds{{"a", randomF32(t.shape, gen)},
                                      {"b", randomF32(t.shape, gen, 5, 6)}};
  std::map<std::string, Tensor> ref = jittest::interpret(g, feeds);
  auto exe = jittest::build(g, naivePlan(g), feeds);
  CHECK(exe->compiled().stats().kernels == 1);
  CHECK(exe->compiled().stats().barriers == 3); // fn | combine | fn | combine
  for (int threads : {1, 2, 3}) {
    CAPTURE(threads);
    for (int rep = 0; rep < 20; ++rep) {
      auto out = jittest::execute(*exe, threads);
      for (const char* n : {"na", "nb"})
        CHECK(jittest::compare(out[n], ref[n]).maxRel <= 1e-5);
    }
  }
}

TEST_CASE("an op without a lowering is a clear compile error, not a crash") {
  // Every op is lowered now, so check the error path with a plan that does not fit the graph.
  Graph g;
  int x = g.addInput("x", {DType::f32, {4}});
  g.outputs.push_back(g.add(OpKind::Relu, {x}));
  MemoryPlan plan; // no placements
  std::string err;
  CHECK(compileStep(g, plan, {}, &err) == nullptr);
  CHECK(err.find("memory plan") != std::string::npos);
}

TEST_CASE("kernels are deduplicated across identical ops") {
  Graph g;
  int x = g.addInput("x", {DType::f32, {3, 8}});
  int w = g.addInput("w", {DType::f32, {8}});
  int b = g.addInput("b", {DType::f32, {8}});
  int h = x;
  for (int l = 0; l < 4; ++l)
    h = g.add(OpKind::Gelu, {g.add(OpKind::LayerNorm, {h, w, b})});
  g.outputs.push_back(h);
  std::string err;
  auto step = compileStep(g, naivePlan(g), {}, &err);
  REQUIRE_MESSAGE(step, err);
  CHECK(step->stats().kernels == 2);
  CHECK(step->stats().calls == 8);
  for (const KernelInfo& k : step->kernels())
    CHECK(k.uses == 4);
}

TEST_CASE("bad token ids and targets are reported by run(), not read out of bounds") {
  Graph g;
  int ids = g.addInput("ids", {DType::i32, {2, 3}});
  int table = g.addInput("table", {DType::f32, {5, 4}});
  g.outputs.push_back(g.add(OpKind::Embedding, {ids, table}));
  std::mt19937 gen(1);
  Tensor bad = randomI32({2, 3}, gen, 0, 5);
  bad.i[4] = 7;
  auto exe = jittest::build(g, naivePlan(g), {{"ids", bad}, {"table", randomF32({5, 4}, gen)}});
  std::string e = exe->run(1);
  CHECK(e.find("token id 7") != std::string::npos);
}

TEST_CASE("a NaN in a softmax row makes the row NaN, in the JIT as in the interpreter") {
  // The row max is llvm.maximum (vectorized, NaN-propagating); maxnum skipped the NaN and the
  // kernel wrote zeros around it while the interpreter's row was all NaN.
  std::mt19937 gen(3);
  for (OpKind kind : {OpKind::Softmax, OpKind::ScaleMaskSoftmax}) {
    CAPTURE(opName(kind));
    Graph g;
    const TensorType t{DType::f32, {2, 8, 40}};
    int x = g.addInput("x", t);
    g.outputs.push_back(g.add(kind, {x}, {}, {}, "y"));
    Tensor xs = randomF32(t.shape, gen);
    xs.f[3 * 40 + 0] = std::numeric_limits<float>::quiet_NaN(); // row 3: NaN in its first key
    std::map<std::string, Tensor> feeds{{"x", xs}};
    Tensor ref = jittest::interpret(g, feeds)["y"];
    auto exe = jittest::build(g, naivePlan(g), feeds);
    for (int threads : {1, 2}) {
      Tensor out = jittest::execute(*exe, threads)["y"];
      for (int64_t r = 0; r < 16; ++r)
        for (int64_t c = 0; c < 40; ++c) {
          float a = out.f[r * 40 + c], b = ref.f[r * 40 + c];
          if (r == 3) CHECK(std::isnan(a)); // every weight of the NaN row, not only the NaN's own
          CHECK(std::isnan(a) == std::isnan(b));
          if (!std::isnan(b)) CHECK(std::fabs(a - b) <= 1e-5f + 1e-5f * std::fabs(b));
        }
    }
  }
}

TEST_CASE("GEMV over B [K,N] skips rows whose coefficient is 0: the same numbers") {
  // The decode step's w·V: weights past the position are exactly 0 (masked softmax) and their
  // cache rows are not read. Rows of zeros, and a NaN coefficient, against the interpreter.
  std::mt19937 gen(5);
  Graph g;
  int a = g.addInput("a", {DType::f32, {3, 2, 1, 40}});
  int bm = g.addInput("b", {DType::f32, {3, 2, 40, 24}});
  g.outputs.push_back(
      g.add(OpKind::MatMul, {a, bm}, {{"ta", int64_t(0)}, {"tb", int64_t(0)}}, {}, "y"));
  Tensor as = randomF32({3, 2, 1, 40}, gen);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t k = 7 + r; k < 40; ++k)
      as.f[r * 40 + k] = 0.0f; // row r: coefficients past 6 + r are 0
  as.f[5 * 40 + 2] = std::numeric_limits<float>::quiet_NaN(); // a NaN weight still propagates
  std::map<std::string, Tensor> feeds{{"a", as}, {"b", randomF32({3, 2, 40, 24}, gen)}};
  Tensor ref = jittest::interpret(g, feeds)["y"];
  auto exe = jittest::build(g, naivePlan(g), feeds);
  for (int threads : {1, 2}) {
    Tensor out = jittest::execute(*exe, threads)["y"];
    REQUIRE(out.f.size() == ref.f.size());
    for (size_t i = 0; i < out.f.size(); ++i) {
      CHECK(std::isnan(out.f[i]) == std::isnan(ref.f[i]));
      if (!std::isnan(ref.f[i])) CHECK(std::fabs(out.f[i] - ref.f[i]) <= 1e-5f);
    }
    CHECK(std::isnan(out.f[5 * 24]));
  }
}

TEST_CASE("qmatmul with xblock: the AVX2 and the generic dot products agree bit for bit") {
  // codegen/lower_quantize.cpp takes vpmaddubsw/vpmaddwd where the host has AVX2 and plain
  // sign-extends and multiplies elsewhere (GPTC_I8DOT=generic forces that here); both give the same
  // integers, so the same bits. A NaN or an inf in x makes its row NaN, as in the interpreter.
  std::mt19937 gen(7);
  for (bool rowScale : {false, true}) {
    CAPTURE(rowScale);
    Graph g;
    const int64_t M = 2, K = 128, N = 13, blocks = rowScale ? 1 : K / 32;
    int x = g.addInput("x", {DType::f32, {M, K}});
    int w = g.addInput("w", {DType::i8, {N, K}});
    int s = g.addInput("s", {DType::f32, {N, blocks}});
    g.outputs.push_back(g.add(OpKind::QMatMul, {x, w, s}, {{"xblock", int64_t(32)}}, {}, "y"));
    Tensor xs = quantizedX()(0, {DType::f32, {M, K}}, gen);
    xs.f[K + 100] =
        rowScale ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
    Tensor ws = defaultFill({DType::i8, {N, K}}, gen);
    ws.f[5] = -128.0f; // |w| = 128 still fits vpmaddubsw's unsigned byte
    std::map<std::string, Tensor> feeds{
        {"x", xs}, {"w", ws}, {"s", randomF32({N, blocks}, gen, 0.001f, 0.01f)}};
    Tensor ref = jittest::interpret(g, feeds)["y"];
    auto native = jittest::build(g, naivePlan(g), feeds);
    Tensor a = jittest::execute(*native, 2)["y"];
    setenv("GPTC_I8DOT", "generic", 1);
    auto generic = jittest::build(g, naivePlan(g), feeds);
    unsetenv("GPTC_I8DOT");
    Tensor b = jittest::execute(*generic, 1)["y"];
    CHECK(jittest::sameBits(a, b));
    for (int64_t i = 0; i < M * N; ++i) {
      CHECK(std::isnan(a.f[i]) == (i >= N)); // row 1 holds the NaN / inf
      CHECK(std::isnan(ref.f[i]) == (i >= N));
      if (i < N) CHECK(std::fabs(a.f[i] - ref.f[i]) <= 1e-5f * (1.0f + std::fabs(ref.f[i])));
    }
  }
}

} // namespace
} // namespace gptc
