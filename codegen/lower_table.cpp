// codegen/lower_table.cpp — the lowering table, indexed by OpKind and expanded from ir/ops.def.
// An op kind gets its entry by one LOWERED(E) line below (its lower_E lives in a lower_*.cpp);
// a row added to ops.def without one gets nullptr: the codegen still builds (other engineers add
// rows while lowerings are written), compiling a graph that uses the op says "not lowered yet",
// and tests/jit/test_lowering_table.cpp fails until every op has a lowering.
#include "codegen/lower.h"

namespace gptc::codegen {

template <OpKind K> struct Lowering { static constexpr LowerFn fn = nullptr; };

#define LOWERED(E)                                                                                 \
  GPTC_DECLARE_LOWERING(E)                                                                         \
  template <> struct Lowering<OpKind::E> { static constexpr LowerFn fn = &lower_##E; };

// lower_elementwise.cpp
LOWERED(Add)
LOWERED(Sub)
LOWERED(Mul)
LOWERED(Div)
LOWERED(Scale)
LOWERED(Gelu)
LOWERED(Relu)
LOWERED(GeluGrad)
LOWERED(ReluGrad)
LOWERED(Dropout)
LOWERED(CausalMask)
LOWERED(MaskFill)
LOWERED(PadMask)
LOWERED(Fill)
LOWERED(AdamWMoment1)
LOWERED(AdamWMoment2)
LOWERED(AdamWUpdate)
LOWERED(ClipScale)
// lower_matmul.cpp
LOWERED(MatMul)
LOWERED(Linear)
// lower_norm.cpp
LOWERED(LayerNorm)
LOWERED(LayerNormGradX)
LOWERED(LayerNormGradW)
LOWERED(Softmax)
LOWERED(SoftmaxGrad)
// lower_layout.cpp
LOWERED(Reshape)
LOWERED(Transpose)
LOWERED(SplitHeads)
LOWERED(MergeHeads)
LOWERED(Slice)
LOWERED(Pad)
LOWERED(Concat)
LOWERED(Select)
LOWERED(Stack)
LOWERED(Broadcast)
// lower_reduce.cpp
LOWERED(ReduceSum)
LOWERED(ReduceMean)
LOWERED(ReduceMax)
LOWERED(GlobalNorm)
// lower_embedding.cpp
LOWERED(Embedding)
LOWERED(EmbeddingGrad)
LOWERED(Sinusoidal)
LOWERED(CrossEntropy)
LOWERED(CrossEntropyGrad)
// lower_llama.cpp
LOWERED(RMSNorm)
LOWERED(RMSNormGradX)
LOWERED(RMSNormGradW)
LOWERED(Silu)
LOWERED(SiluGrad)
LOWERED(SwiGLU)
LOWERED(Rope)
LOWERED(Alibi)
LOWERED(Einsum)
// lower_decode.cpp
LOWERED(DynamicSlice)
LOWERED(DynamicUpdateSlice)
LOWERED(CausalMaskAt)
// lower_fused.cpp (ops made by passes/fuse.cpp)
LOWERED(ScaleMaskSoftmax)
LOWERED(MaskedSoftmaxGrad)
LOWERED(LinearGelu)
LOWERED(MatMulGeluGrad)
LOWERED(EmbeddingGradAdd) // in lower_embedding.cpp, beside embedding_grad
// lower_quantize.cpp (ops made by passes/quantize.cpp)
LOWERED(Dequantize)
LOWERED(QMatMul)
LOWERED(QLinear)
// lower_collective.cpp (ops made by passes/data_parallel.cpp)
LOWERED(AllReduce)
LOWERED(ReduceScatter)
LOWERED(AllGather)

#undef LOWERED

namespace {
constexpr LowerFn kLowerings[] = {
#define OP(E, ...) Lowering<OpKind::E>::fn,
#include "ir/ops.def"
#undef OP
};
static_assert(sizeof(kLowerings) / sizeof(kLowerings[0]) == kNumOpKinds);
} // namespace

LowerFn loweringFor(OpKind kind) {
  return kLowerings[static_cast<size_t>(kind)];
}

} // namespace gptc::codegen
