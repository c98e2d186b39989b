// codegen/lower_table.cpp — the lowering table, indexed by OpKind and generated from ir/ops.def as
// the shape-rule, interpreter and gradient tables are: every row declares lower_<E> and takes its
// address, so an op kind whose lowering no codegen/lower_*.cpp defines does not build (an
// undefined reference to lower_<E> when gptc_codegen is linked), as a kernel missing from the
// interpreter does not. Which file defines an op's lowering follows its family (the ops.def
// section): lower_elementwise, lower_matmul, lower_norm, lower_layout, lower_reduce,
// lower_embedding, lower_llama, lower_decode, lower_quantize, lower_optim, lower_fused.
#include "codegen/lower.h"

namespace gptc::codegen {

#define OP(E, ...) GPTC_DECLARE_LOWERING(E)
#include "ir/ops.def"
#undef OP

namespace {
constexpr LowerFn kLowerings[] = {
#define OP(E, ...) &lower_##E,
#include "ir/ops.def"
#undef OP
};
static_assert(sizeof(kLowerings) / sizeof(kLowerings[0]) == kNumOpKinds);
} // namespace

LowerFn loweringFor(OpKind kind) {
  return kLowerings[static_cast<size_t>(kind)];
}

} // namespace gptc::codegen
