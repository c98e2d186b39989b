// codegen/llvm_context.h — the LLVM-facing half of the JIT: a module to emit into, the host
// target, and the fast-math policy. Only codegen/*.cpp include this (it pulls in LLVM headers);
// runtime/ and tools/ see codegen/jit.h, which is LLVM-free.
//
// What it leaves to others: the per-op lowerings create functions in a ModuleBuilder and hand it
// to Jit::addModule (codegen/jit.h); optimisation, compilation and caching happen there.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>
#include <string_view>

namespace gptc::codegen {

/// The machine we run on, read once from the host (llvm::sys::getHostCPUName/Features).
/// Everything that specialises code for the CPU (vector width, cache key) reads it from here.
struct HostTarget {
  std::string triple;   ///< e.g. "x86_64-pc-linux-gnu"
  std::string cpu;      ///< e.g. "znver5"
  std::string features; ///< "+avx2,+fma,+avx512f,...", sorted, comma separated
  bool avx2 = false, fma = false, avx512f = false;
  /// Widest float vector the generated kernels use: 16 with AVX-512, 8 with AVX2, else 4.
  int floatLanes() const { return avx512f ? 16 : (avx2 ? 8 : 4); }
};
const HostTarget& hostTarget();

/// Initialises LLVM's native target, asm printer and asm parser once per process.
void initializeNativeTarget();

/// The fast-math policy of gptc, written down once. Every IRBuilder that emits float math for a
/// kernel calls this; nothing else sets fast-math flags.
///   - contract: allowed. a*b+c may become one FMA (llvm.fmuladd → vfmadd). Matmul and the
///     reductions are designed around FMA; the result differs from separate mul+add by < 1 ulp.
///   - reassoc: allowed. Reductions (sum over K, softmax/layernorm sums) may be split into several
///     partial sums and vectorised; results then depend on the vector width (tests use tolerances).
///   - nnan / ninf: NOT assumed. Attention masks are -inf and softmax relies on exp(-inf) = 0 and
///     on max() seeing -inf; a NaN must propagate so the tests catch it.
///   - arcp / afn / nsz: not set (no approximate division or functions behind the user's back;
///     approximations of exp/tanh are written explicitly where used).
void applyFastMathPolicy(llvm::IRBuilderBase& b);
llvm::FastMathFlags fastMathPolicy();

/// Sets "target-cpu"/"target-features" of the host on f, and asks the backend to keep 512-bit
/// vectors legal (without "min-legal-vector-width" some x86 CPUs split <16 x float> into halves).
void applyTargetAttributes(llvm::Function& f);

/// An LLVM context plus one module to emit functions into. Move it into Jit::addModule when done.
/// Each ModuleBuilder owns its own LLVMContext, so builders can be filled on different threads.
class ModuleBuilder {
public:
  explicit ModuleBuilder(std::string_view name);
  ~ModuleBuilder();
  ModuleBuilder(ModuleBuilder&&) noexcept;
  ModuleBuilder& operator=(ModuleBuilder&&) noexcept;

  llvm::LLVMContext& ctx() { return *ctx_; }
  llvm::Module& module() { return *module_; }

  /// Declares a function with external linkage and the host target attributes.
  llvm::Function* createFunction(llvm::FunctionType* type, std::string_view name);
  /// Same, internal linkage (helpers that only the module's own functions call).
  llvm::Function* createInternalFunction(llvm::FunctionType* type, std::string_view name);

  /// Wraps an existing module (e.g. parsed from text) and the context it lives in.
  static ModuleBuilder adopt(std::unique_ptr<llvm::LLVMContext> ctx,
                             std::unique_ptr<llvm::Module> module);

  /// Used by Jit::addModule.
  std::unique_ptr<llvm::LLVMContext> takeContext() { return std::move(ctx_); }
  std::unique_ptr<llvm::Module> takeModule() { return std::move(module_); }

private:
  ModuleBuilder() = default;
  // Declaration order matters: the module must die before its context.
  std::unique_ptr<llvm::LLVMContext> ctx_;
  std::unique_ptr<llvm::Module> module_;
};

} // namespace gptc::codegen
