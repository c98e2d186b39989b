// ir/fused_ops.cpp — the table of fused ops' compositions (ir/fused_ops.h). Each entry is the
// formula of its ops.def row, step by step.
#include "ir/fused_ops.h"

#include "ir/graph.h"

#include <fmt/format.h>
#include <map>

namespace gptc {
namespace {

StepOperand in(int i) {
  return {false, i};
}
StepOperand step(int k) {
  return {true, k};
}
StepAttr attr(const std::string& name) {
  return {name, StepAttr::From::FusedAttr, name};
}
StepAttr constant(const std::string& name, AttrValue v) {
  return {name, StepAttr::From::Constant, "", std::move(v)};
}
StepAttr dimOf(const std::string& name, int operand, int axis) {
  return {name, StepAttr::From::OperandDim, "", int64_t(0), operand, axis};
}

const std::map<OpKind, Decomposition>& table() {
  using K = OpKind;
  static const std::map<OpKind, Decomposition> t = {
      // softmax(causal_mask(scale(x, s), offset))
      {K::ScaleMaskSoftmax,
       {{{K::Scale, {in(0)}, {attr("s")}},
         {K::CausalMask, {step(0)}, {attr("offset")}},
         {K::Softmax, {step(1)}, {}}}}},
      // scale(mask_fill(softmax_grad(y, dy), keep, 0), s)
      {K::MaskedSoftmaxGrad,
       {{{K::SoftmaxGrad, {in(0), in(1)}, {}},
         {K::MaskFill, {step(0), in(2)}, {constant("value", 0.0)}},
         {K::Scale, {step(1)}, {attr("s")}}}}},
      // gelu(linear(x, w, b))
      {K::LinearGelu, {{{K::Linear, {in(0), in(1), in(2)}, {}}, {K::Gelu, {step(0)}, {}}}}},
      // gelu_grad(x, matmul(a, b))
      {K::MatMulGeluGrad,
       {{{K::MatMul, {in(0), in(1)}, {attr("ta"), attr("tb")}},
         {K::GeluGrad, {in(2), step(0)}, {}}}}},
      // add(acc, embedding_grad(ids, dy){rows = acc's dim 0}), in place on acc
      {K::EmbeddingGradAdd,
       {{{K::EmbeddingGrad, {in(1), in(2)}, {dimOf("rows", 0, 0)}}, {K::Add, {in(0), step(0)}, {}}},
        /*resultIsOperand0=*/true}},
  };
  return t;
}

} // namespace

const Decomposition* decompositionOf(OpKind kind) {
  auto it = table().find(kind);
  return it == table().end() ? nullptr : &it->second;
}

std::string stepAttrs(const FusedStep& step, const Attrs& attrs,
                      const std::vector<TensorType>& types, Attrs* out) {
  out->clear();
  for (const StepAttr& a : step.attrs) {
    switch (a.from) {
    case StepAttr::From::FusedAttr:
      if (auto it = attrs.find(a.fusedName); it != attrs.end()) (*out)[a.name] = it->second;
      break;
    case StepAttr::From::Constant:
      (*out)[a.name] = a.value;
      break;
    case StepAttr::From::OperandDim:
      if (a.operand >= int(types.size()) || a.axis >= types[a.operand].rank())
        return fmt::format("operand {} ({}) has no axis {} for {}'s {}", a.operand,
                           a.operand < int(types.size()) ? typeToString(types[a.operand]) : "none",
                           a.axis, opName(step.kind), a.name);
      (*out)[a.name] = types[a.operand].shape[a.axis];
      break;
    }
  }
  return completeAttrs(step.kind, *out);
}

} // namespace gptc
