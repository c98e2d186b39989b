// ir/fused_ops.h's table: each fused op kind is a well-formed composition (its steps' operands
// and attributes exist, each step takes that many operands), and the fused op's type is its
// composition's, errors included. That the interpreter's kernels are bit-identical to the unfused
// ops is tests/fusion/'s; that the JIT's fused kernels match them is tests/jit/test_ops.cpp's.
#include "ir/fused_ops.h"
#include "ir/graph.h"

#include <algorithm>
#include <doctest/doctest.h>

using namespace gptc;

namespace {

const OpKind kFused[] = {OpKind::ScaleMaskSoftmax, OpKind::MaskedSoftmaxGrad, OpKind::LinearGelu,
                         OpKind::MatMulGeluGrad, OpKind::EmbeddingGradAdd};

TensorType f32(Shape s) {
  return {DType::f32, std::move(s)};
}

} // namespace

TEST_CASE("every fused op kind is a well-formed composition") {
  for (OpKind k : kFused) {
    CAPTURE(opName(k));
    const Decomposition* d = decompositionOf(k);
    REQUIRE(d != nullptr);
    REQUIRE(!d->steps.empty());
    const OpInfo& info = opInfo(k);
    for (size_t s = 0; s < d->steps.size(); ++s) {
      const FusedStep& step = d->steps[s];
      CHECK(opInfo(step.kind).acceptsOperandCount(step.operands.size()));
      for (StepOperand o : step.operands)
        CHECK((o.fromStep ? o.index < int(s) : o.index < int(info.operands.size())));
      for (const StepAttr& a : step.attrs)
        if (a.from == StepAttr::From::FusedAttr)
          CHECK(std::any_of(info.attrs.begin(), info.attrs.end(),
                            [&](const AttrSpec& s) { return s.name == a.fusedName; }));
    }
  }
  CHECK(decompositionOf(OpKind::Add) == nullptr);
}

TEST_CASE("a fused op's type is its composition's") {
  Attrs smsAttrs{{"s", 0.5}, {"offset", int64_t(0)}};
  REQUIRE(completeAttrs(OpKind::ScaleMaskSoftmax, smsAttrs).empty());
  Expected<TensorType> t = inferType(OpKind::ScaleMaskSoftmax, {f32({2, 4, 4})}, smsAttrs);
  REQUIRE(t);
  CHECK(*t == f32({2, 4, 4}));
  // causal_mask needs rank 2: the step that refuses is named.
  Expected<TensorType> bad = inferType(OpKind::ScaleMaskSoftmax, {f32({4})}, smsAttrs);
  REQUIRE(!bad);
  CHECK(bad.error().message.find("causal_mask") != std::string::npos);

  Attrs mm{{"ta", int64_t(0)}, {"tb", int64_t(1)}};
  Expected<TensorType> g =
      inferType(OpKind::MatMulGeluGrad, {f32({3, 8}), f32({5, 8}), f32({3, 5})}, mm);
  REQUIRE(g);
  CHECK(*g == f32({3, 5}));
  CHECK(!inferType(OpKind::MatMulGeluGrad, {f32({3, 8}), f32({5, 8}), f32({3, 4})}, mm));

  // embedding_grad_add writes over acc: acc must be the scatter's type, not merely broadcast.
  TensorType ids{DType::i32, {6}};
  CHECK(inferType(OpKind::EmbeddingGradAdd, {f32({10, 4}), ids, f32({6, 4})}, {}));
  Expected<TensorType> wide =
      inferType(OpKind::EmbeddingGradAdd, {f32({10, 1}), ids, f32({6, 4})}, {});
  REQUIRE(!wide);
  CHECK(wide.error().message.find("no broadcasting") != std::string::npos);
  CHECK(!inferType(OpKind::EmbeddingGradAdd, {f32({}), ids, f32({6, 4})}, {}));
}
