// codegen/matmul.h — gptc's generated, shape-specialised matmul: C = A·B (+ epilogue) for static
// shapes, emitted as LLVM IR (packing + register-blocked micro-kernel + cache blocking) and
// compiled by codegen/jit.h. No BLAS is called. How the kernel is built: docs/matmul.md.
//
// This header is LLVM-free. It gives the shape description, the kernel calling convention, the
// scratch size, and CompiledMatmul, a self-contained compiled kernel for tests and benchmarks.
// What it leaves to others: the runtime owns the OpenMP parallel region and the per-thread scratch
// when kernels run inside a compiled step; the lowering of `matmul`/`linear` ops emits the kernel
// into its own module with emitMatmulKernel() (codegen/matmul_emit.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace gptc::codegen {

/// What happens to each C element after the K reduction, in this order:
///   v = Σ_k A[m,k]·B[k,n];  if accumulate: v += C_old[m,n];  if bias: v += bias[n];  C[m,n] = v
/// New epilogues (GELU after the bias, ...) are new enumerators plus one case in
/// matmul_emit.cpp's applyEpilogue(); the micro-kernel calls it on each register tile.
enum class MatmulEpilogue : uint8_t {
  None,        ///< the bias pointer is ignored (may be null)
  Bias,        ///< C[m,n] += bias[n]; bias has N floats
  BiasGelu,    ///< C[m,n] = gelu(v + bias[n]) (tanh form): `linear_gelu`
  GeluGradAux, ///< C[m,n] = v · gelu'(aux[m,n]); the bias pointer is aux, laid out as C:
               ///< `matmul_gelu_grad`
};

/// A static matmul. Row-major everywhere:
///   A: [batch, M, K]   (transA: [batch, K, M])
///   B: [batch, K, N]   (transB: [batch, N, K]); batchedB=false: one [K,N] (or [N,K]) for all
///   C: [batch, M, N]   overwritten, or added to when accumulate.
/// gptc's `linear` (x·Wᵀ + b, W: [N,K]) is transB=true with MatmulEpilogue::Bias.
struct MatmulShape {
  int64_t batch = 1, M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  bool batchedB = true;
  bool accumulate = false;
  MatmulEpilogue epilogue = MatmulEpilogue::None;
};

/// Blocking choices. Zero means "choose for the shape and the host" (planMatmul). Exposed for the
/// benchmark and tests; the runtime should use the defaults.
struct MatmulTuning {
  int lanes = 0;       ///< vector width in floats: 16 (AVX-512) or 8 (AVX2)
  int mr = 0, nr = 0;  ///< micro-tile rows, columns (nr a multiple of lanes, mr <= lanes)
  int64_t kc = 0;      ///< K block (packed panels hold kc rows of K)
  int64_t mc = 0;      ///< M block: rows of A packed at once (kept in L2)
  int64_t nc = 0;      ///< N block: columns of B packed at once
  int64_t runM = 0;    ///< M blocks per work item (0: planMatmul chooses; see MatmulPlan::runM)
  int threadsHint = 0; ///< the thread count to balance the work items for (0: defaultThreadCount())
};

/// The blocking decided for a shape: every number the generator bakes into the kernel.
struct MatmulPlan {
  int lanes = 0, mr = 0, nr = 0;
  int64_t kc = 0, kBlocks = 0, kcLast = 0; ///< K = (kBlocks-1)·kc + kcLast
  int64_t mc = 0, mBlocks = 0;             ///< M = split in mBlocks blocks of ≤ mc rows
  int64_t nc = 0, nBlocks = 0;             ///< N = split in nBlocks blocks of ≤ nc columns
  int64_t runM = 1;  ///< M blocks per work item: B's panel is packed once per item and reused
  int64_t items = 0; ///< batch·nBlocks·ceil(mBlocks/runM) work items
  int64_t packABytes = 0, packBBytes = 0; ///< the two regions of a thread's scratch
};
MatmulPlan planMatmul(const MatmulShape& shape, const MatmulTuning& tuning = {});
/// One line, e.g. "lanes=16 tile=14x32 kc=256x3 mc=256x1 nc=384x6 items=6", for logs and docs.
std::string describe(const MatmulPlan& plan);

/// The kernel calling convention. The caller (runtime) is already inside a job of the thread team;
/// the kernel never starts threads and contains no barrier. Threads claim whole C blocks (work
/// items: batch × N-block × run of runM M-blocks) from the counter at `work` (zeroed before the
/// call; see codegen/kernel_emitter.h), so a descheduled thread takes fewer; with work null, thread
/// `thread_id` of `num_threads` takes items thread_id, thread_id + num_threads, ...
///   scratch: this thread's private workspace, matmulScratchBytes(shape) bytes, 64-byte aligned.
///   bias:    read only with MatmulEpilogue::Bias/BiasGelu (N floats) or GeluGradAux (C's
///            shape), else may be null.
using MatmulKernelFn = void (*)(const float* A, const float* B, float* C, const float* bias,
                                float* scratch, int32_t thread_id, int32_t num_threads,
                                int64_t* work);

/// Bytes of per-thread scratch the kernel for `shape` needs (packed A block + packed B panel).
int64_t matmulScratchBytes(const MatmulShape& shape, const MatmulTuning& tuning = {});
/// Checks the shape; returns "" when it is valid, else a one-line reason.
std::string validateMatmulShape(const MatmulShape& shape);

/// A compiled kernel with its own JIT, for tests, benchmarks and one-off use.
class CompiledMatmul {
public:
  /// Generates and compiles the kernel for `shape`. nullptr and *err on failure. With
  /// captureCode, optimizedIR() and assembly() are filled (and the object cache is not read).
  static std::unique_ptr<CompiledMatmul> compile(const MatmulShape& shape, std::string* err,
                                                 const MatmulTuning& tuning = {},
                                                 bool captureCode = false);
  ~CompiledMatmul();

  /// Runs the kernel as a job of `threads` threads of the team, gives each its scratch, calls the
  /// kernel. threads <= 0: defaultThreadCount().
  void run(const float* A, const float* B, float* C, const float* bias, int threads);

  MatmulKernelFn kernel() const { return kernel_; }
  const MatmulShape& shape() const { return shape_; }
  const MatmulPlan& plan() const { return plan_; }
  /// LLVM IR after O3 and the assembly of the kernel module (with captureCode).
  const std::string& optimizedIR() const { return ir_; }
  const std::string& assembly() const { return asm_; }

private:
  CompiledMatmul();
  struct Holder; // the Jit, kept alive for the kernel's code
  std::unique_ptr<Holder> holder_;
  MatmulKernelFn kernel_ = nullptr;
  MatmulShape shape_;
  MatmulPlan plan_;
  int64_t scratchBytes_ = 0;
  float* scratch_ = nullptr; // threads × scratchBytes_, 64-byte aligned
  int scratchThreads_ = 0;
  std::string ir_, asm_;
};

} // namespace gptc::codegen
