// codegen/lower.h — the lowering table: for each op kind, a function that emits one kernel
// specialised to its static shapes and attributes. The table is indexed by OpKind and generated
// with the X-macro over ir/ops.def (codegen/lower_table.cpp): every row declares lower_<Op> and
// takes its address, so an op kind without a lowering does not build (an undefined reference).
//
// What it leaves to others: the kernels' bodies (codegen/lower_*.cpp, one file per family of ops),
// dedup and the calls in schedule order (codegen/step_builder.cpp).
#pragma once

#include "codegen/kernel_emitter.h"

#include <string>

namespace gptc::codegen {

/// How step() calls a kernel.
///   Standard: kernel(ptr operands..., ptr result, i32 tid, i32 nthreads, ptr work)
///   Matmul:   kernel(ptr A, ptr B, ptr C, ptr bias, ptr scratch, i32 tid, i32 nthreads, ptr work)
///   Scratch:  Standard, then ptr scratch (this thread's scratchBytes; lower_lm_head.cpp)
/// `work` is the call's work slots (kernel_emitter.h: chunk counters; step_builder.cpp gives each
/// call its own).
///             (codegen/matmul.h's MatmulKernelFn; bias is operand 2 of `linear`, else null)
enum class CallForm : uint8_t { Standard, Matmul, Scratch };

struct LoweredKernel {
  llvm::Function* fn = nullptr;
  CallForm form = CallForm::Standard;
  int64_t scratchBytes = 0; ///< per thread (Matmul, Scratch)
  int workSlots = 0;        ///< work slots of fn (KernelEmitter::slots(); Matmul: 1)
  int combineWorkSlots = 0; ///< work slots of combine
  /// A reduction to one value over all threads is two functions with the Standard arguments:
  /// `fn` (threads write the partial results of the chunks they claim; a partial belongs to a row
  /// or block, never to a thread) and `combine` (after a barrier, one thread adds the partials up
  /// in a fixed order). step() calls fn, gptc_barrier(), combine:
  /// the barrier is the step builder's, like every other, and no kernel waits inside itself.
  llvm::Function* combine = nullptr;
  /// The partials: a zero-initialised global of the module, `partialsBytes` long, that fn writes
  /// and combine reads. The step builder tracks its bytes like a value's (two calls of one kernel
  /// get a barrier between them), so the global needs no other protection.
  int64_t partialsBytes = 0;
  /// fn writes the result as well as the partials (its own disjoint parts of it; combine the
  /// rest): the step builder then orders fn after every earlier reader and writer of those bytes.
  bool fnWritesResult = false;
};

/// Emits the kernel for `spec` into `mb` as `name`. "" or why it cannot (shapes the lowering does
/// not support); *out is filled on success.
using LowerFn = std::string (*)(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                                LoweredKernel* out);

/// The lowering of an op kind (lower_table.cpp: every ops.def row has one, or gptc does not build).
LowerFn loweringFor(OpKind kind);

// Each lower_*.cpp defines its family's lower_<E>; lower_table.cpp declares one per ops.def row.
#define GPTC_DECLARE_LOWERING(E)                                                                   \
  std::string lower_##E(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,        \
                        LoweredKernel* out);

/// Shorthand for lowerings that use the Standard form: builds the emitter, runs `body`, finishes.
std::string emitStandard(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out,
                         const std::function<std::string(KernelEmitter&)>& body);

/// xhat at element index i of one row (the normalized input a norm's weight multiplies).
using XhatAt = std::function<llvm::Value*(llvm::Value* i)>;
/// The weight gradient of a row norm (layernorm_grad_w, rmsnorm_grad_w): operand 1 is dy (R,C),
/// the result dw (C) = Σ_rows dy·xhat. Chunks are disjoint column ranges (no atomics, the same sum
/// order for any thread count); `rowXhat(base)` emits the row's statistics once per row and chunk
/// (base = r·C) and returns how to form xhat at an index of that row.
void emitNormGradW(KernelEmitter& E, int64_t rows, int64_t C,
                   const std::function<XhatAt(llvm::Value* base)>& rowXhat);

/// Shorthand for a two-phase reduction (LoweredKernel::combine) with `partials` f32 slots in the
/// kernel's global `<name>.partials`: `spread` is the body of fn (every thread), `combine` the body
/// of the combine function (usually onOneThread). Both receive the partials' pointer.
std::string emitTwoPhase(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                         LoweredKernel* out, int64_t partials,
                         const std::function<std::string(KernelEmitter&, llvm::Value*)>& spread,
                         const std::function<std::string(KernelEmitter&, llvm::Value*)>& combine);

} // namespace gptc::codegen

namespace gptc::codegen {

/// One operand of emitMap: which kernel operand, read through `strides` (from broadcastStrides;
/// 0 where it repeats), as f32 or i32.
struct MapOperand {
  int index;
  std::vector<int64_t> strides;
  bool isInt = false;
  int64_t offset = 0; ///< element offset of the first read (a slice's start)
};

/// The elementwise loop nest: result[i] = f(operand values at i, flat index i) over `out`'s shape.
/// Dims are collapsed where every operand is contiguous across them; the innermost run is a
/// vectorizable loop (operands that repeat along it are loaded once per row), and rows (or chunks
/// of one long row) are split over the threads.
void emitMap(
    KernelEmitter& E, const Shape& out, const std::vector<MapOperand>& operands,
    const std::function<llvm::Value*(const std::vector<llvm::Value*>&, llvm::Value* flat)>& f);

/// Copies `rows` runs of `len` 4-byte elements: dst[dstOff + r·dstStride + j] =
/// src[srcOff + r·srcStride + j] (src null: zeros). Rows, or chunks of a long run, are split over
/// the threads. Works for f32 and i32 alike (layout ops move token ids and masks too).
void emitCopyRows(KernelEmitter& E, llvm::Value* src, int64_t srcOff, int64_t srcStride,
                  llvm::Value* dst, int64_t dstOff, int64_t dstStride, int64_t rows, int64_t len);

/// numpy-broadcast operand `index` of the spec to the result shape.
MapOperand broadcastOperand(const KernelSpec& spec, int index);
/// Operand `index` of the spec read contiguously (its own row-major strides).
MapOperand contiguousOperand(const KernelSpec& spec, int index);

/// max and log Σ exp over logits[base .. base+classes) in f32: a row's log-sum-exp (-inf for an all
/// -inf row), as cross_entropy and its gradient take it (lower_embedding.cpp; lower_lm_head.cpp).
llvm::Value* logSumExp(KernelEmitter& E, llvm::Value* logits, llvm::Value* base, int64_t classes);

/// A loss's combine, on one thread: result[0] = the mean of partial[r] over the rows r < rows that
/// `counted(r)` (i1) accepts, summed in double in row order whatever the threads (0 when none
/// count). cross_entropy and linear_cross_entropy (lower_embedding.cpp; lower_lm_head.cpp).
void storeMeanOfCounted(KernelEmitter& E, llvm::Value* partial, int64_t rows,
                        const std::function<llvm::Value*(llvm::Value* r)>& counted);

/// 0 <= id < n, id an i32 (the embedding family's id checks; lower_embedding.cpp).
llvm::Value* idInRange(KernelEmitter& E, llvm::Value* id, int64_t n);

/// Dropout's uniform number in [0, 1) for element `index` (i32): ir/rng.h's integer mixer written
/// in IR, (hash(index, salt, seed) >> 8)·2^-24, so every kernel that drops (dropout, fused
/// attention) draws the interpreter's mask bit for bit. `saltMix` = salt·0x85EBCA77 and `seedMix` =
/// seed·0xC2B2AE3D, computed once per kernel (lower_elementwise.cpp).
llvm::Value* dropoutUniform(KernelEmitter& E, llvm::Value* index, llvm::Value* saltMix,
                            llvm::Value* seedMix);

} // namespace gptc::codegen
