// codegen/matmul_emit.h — LLVM-facing entry point of the matmul generator: emits the kernel for a
// shape into a ModuleBuilder, for lowerings that put matmuls into their own modules. Only codegen
// .cpp files include it. The public, LLVM-free side (shapes, plan, CompiledMatmul) is matmul.h.
#pragma once

#include "codegen/llvm_context.h"
#include "codegen/matmul.h"

#include <string_view>

namespace gptc::codegen {

/// Emits `void name(ptr A, ptr B, ptr C, ptr bias, ptr scratch, i32 thread_id, i32 num_threads)`
/// with the calling convention of MatmulKernelFn, plus internal helpers (packing, micro-kernels)
/// whose names start with `name`. The plan must come from planMatmul(shape, ...).
llvm::Function* emitMatmulKernel(ModuleBuilder& mb, const MatmulShape& shape,
                                 const MatmulPlan& plan, std::string_view name);

} // namespace gptc::codegen
