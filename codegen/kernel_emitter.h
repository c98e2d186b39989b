// codegen/kernel_emitter.h — the small toolkit every op lowering writes its kernel with: the kernel
// function with gptc's calling convention, counted loops, the split of a range into chunks that
// threads claim, and typed loads/stores at element indices. Loops are emitted in the plain form
// LLVM's loop vectorizer recognises (i64 induction variable, noalias pointers, fast-math per the
// policy), so a lowering writes scalar code and gets <16 x float> code on the host.
//
// What it leaves to others: what each op computes (codegen/lower_*.cpp), the vector forms of
// exp/tanh/log (codegen/vector_math.h), the step function that calls kernels (step_builder.cpp).
#pragma once

#include "codegen/llvm_context.h"
#include "ir/graph.h"

#include <functional>
#include <string>
#include <vector>

namespace gptc::codegen {

/// Everything that makes two kernels the same: op kind, operand and result types, attributes,
/// and which operands may share bytes with the result (an in-place op: then no `noalias`).
struct KernelSpec {
  OpKind kind;
  std::vector<TensorType> operands;
  TensorType result;
  Attrs attrs;
  std::vector<bool> operandAliasesResult; // per operand
  /// Per operand (may be empty): the operand is exactly the result's bytes (an in-place op). The
  /// kernel then reads it through the result pointer, so the vectorizer sees one pointer and needs
  /// no runtime overlap check: the in-place kernel vectorizes, and rounds, like the out-of-place
  /// one (results do not depend on the memory plan).
  std::vector<bool> operandIsResult;

  /// The dedup key: kernels with equal keys are emitted once.
  std::string key() const;
};

/// Emits one kernel `void name(ptr op0, ..., ptr result, i32 tid, i32 nthreads, ptr work)` and
/// gives the lowering the pieces to fill its body. Construct, emit the body through b(), then
/// finish().
///
/// Work distribution: a parallel loop cuts its range into chunks whose bounds depend only on the
/// range and the thread count (never on which thread runs them), and threads claim chunk indices
/// from an atomic counter, one 64-byte slot of `work` per loop (slots() of them per call, zeroed
/// by the runtime before each step): a thread the OS deschedules simply takes fewer chunks. Slot
/// layout: i64 next chunk, i64 order (non-zero: chunk k is handed out as chunks-1-k — a test hook
/// that proves results do not depend on the claim order). work == null: thread tid takes chunks
/// tid, tid+nthreads, ... (kernels called directly, without a runtime).
/// Every lowering computes each item of a parallel loop the same way wherever it runs (sums over
/// items go through per-item or per-block partials, lower.h), so results are bit-identical for
/// any claim order and any thread count.
class KernelEmitter {
public:
  /// withScratch: one more parameter after work, this thread's scratch (CallForm::Scratch).
  KernelEmitter(ModuleBuilder& mb, const KernelSpec& spec, const std::string& name,
                bool withScratch = false);

  llvm::IRBuilder<>& b() { return b_; }
  llvm::LLVMContext& ctx() { return mb_.ctx(); }
  ModuleBuilder& module() { return mb_; }
  const KernelSpec& spec() const { return spec_; }
  llvm::Function* function() const { return fn_; }

  llvm::Value* operand(int i) const { return args_[i]; } ///< ptr
  llvm::Value* result() const { return args_.back(); }   ///< ptr
  llvm::Value* tid() const { return tid_; }              ///< i64
  llvm::Value* nthreads() const { return nthreads_; }    ///< i64
  llvm::Value* work() const { return work_; }            ///< ptr (may be null)
  llvm::Value* scratch() const { return scratch_; }      ///< ptr (withScratch only)
  /// Work slots this kernel's parallel loops use (LoweredKernel::workSlots).
  int slots() const { return slots_; }

  // ---- constants and types ----
  llvm::Type* f32() { return b_.getFloatTy(); }
  llvm::Type* i32() { return b_.getInt32Ty(); }
  llvm::Type* i64() { return b_.getInt64Ty(); }
  llvm::Value* cf(double v) { return llvm::ConstantFP::get(f32(), v); }
  llvm::Value* ci(int64_t v) { return b_.getInt64(uint64_t(v)); }
  llvm::Value* ci32(int64_t v) { return b_.getInt32(uint32_t(v)); }

  // ---- memory: element index (i64) into a float / i32 array ----
  llvm::Value* addr(llvm::Value* base, llvm::Value* index, bool isInt = false);
  llvm::Value* loadF(llvm::Value* base, llvm::Value* index);
  llvm::Value* loadI(llvm::Value* base, llvm::Value* index);
  void storeF(llvm::Value* base, llvm::Value* index, llvm::Value* v);

  // ---- control flow ----
  /// for (i = lo; i < hi; ++i) body(i); i is i64. Safe when lo >= hi. `keepScalar` forbids
  /// LLVM to vectorize, interleave or unroll this loop (see parallelFor).
  void loop(llvm::Value* lo, llvm::Value* hi, const std::function<void(llvm::Value*)>& body,
            bool keepScalar = false);
  void loop(int64_t n, const std::function<void(llvm::Value*)>& body) { loop(ci(0), ci(n), body); }
  /// A loop carrying float accumulators: acc = body(i, acc) for i in [lo, hi); returns the finals.
  std::vector<llvm::Value*>
  reduce(llvm::Value* lo, llvm::Value* hi, std::vector<llvm::Value*> init,
         const std::function<std::vector<llvm::Value*>(llvm::Value*,
                                                       const std::vector<llvm::Value*>&)>& body,
         bool keepScalar = false);
  /// Claims chunk indices c of [0, chunks) (i64, runtime) from a new work slot until none is
  /// left, calling body(c) for each.
  void claimLoop(llvm::Value* chunks, const std::function<void(llvm::Value*)>& body);
  /// [0, n) in min(n, perThread·nthreads) chunks [n·c/K, n·(c+1)/K), claimed dynamically:
  /// body(lo, hi) per chunk. perThread = 1 for kernels whose chunks repeat a shared part of the
  /// work (column splits that rescan every row).
  void parallelRanges(int64_t n, const std::function<void(llvm::Value* lo, llvm::Value* hi)>& body,
                      int perThread = kChunksPerThread);
  /// loop over every item of [0, n), in chunks claimed dynamically. The chunk loop is kept
  /// scalar: its bounds depend on the thread count, and if LLVM vectorized it across rows (after
  /// fully unrolling a short inner loop), rows in its remainder would be summed in another order
  /// (reassoc) — results would then depend on the chunking. Inner loops, whose bounds do not, are
  /// vectorized as usual.
  void parallelFor(int64_t n, const std::function<void(llvm::Value*)>& body);
  /// Runs body on exactly one thread, the first to get there (results too small to split:
  /// clip_scale, or the combine of a two-phase reduction, codegen/lower.h); a descheduled thread
  /// 0 does not hold the others up.
  void onOneThread(const std::function<void()>& body);
  /// Chunks per thread of a parallel loop: enough that a thread that loses its core for a while
  /// leaves little for the others to wait on, few enough that claiming (one contended atomic per
  /// chunk) stays negligible beside a chunk's work.
  static constexpr int kChunksPerThread = 4;
  /// if (cond) then(); (no else)
  void ifThen(llvm::Value* cond, const std::function<void()>& then);

  /// Splits a flat element index into coordinates of `shape` (constant div/mod) and returns
  /// Σ coord[d]·strides[d]: the offset of the same coordinates in a strided tensor.
  llvm::Value* remap(llvm::Value* flat, const Shape& shape, const std::vector<int64_t>& strides);

  /// Adds `ret void` and checks the function. "" or what is wrong.
  std::string finish();

private:
  ModuleBuilder& mb_;
  KernelSpec spec_;
  llvm::Function* fn_ = nullptr;
  llvm::IRBuilder<> b_;
  std::vector<llvm::Value*> args_;
  llvm::Value* tid_ = nullptr;
  llvm::Value* nthreads_ = nullptr;
  llvm::Value* work_ = nullptr;
  llvm::Value* scratch_ = nullptr;
  int slots_ = 0;
};

/// The claim loop of KernelEmitter::claimLoop for code built without a KernelEmitter (the matmul
/// kernel): slot `slot` of `work`, chunks (i64) handed out as described there.
void emitClaimLoop(llvm::IRBuilder<>& b, llvm::Function* fn, llvm::Value* work, int slot,
                   llvm::Value* tid, llvm::Value* nthreads, llvm::Value* chunks,
                   const std::function<void(llvm::Value*)>& body);
/// Bytes of one work slot (a cache line: two loops' counters never share one).
inline constexpr int64_t kWorkSlotBytes = 64;

/// Row-major strides of a shape (elements).
std::vector<int64_t> stridesOf(const Shape& shape);
/// Strides that read `from` broadcast (numpy rules) to `to`: 0 on stretched or missing dims.
std::vector<int64_t> broadcastStrides(const Shape& from, const Shape& to);

} // namespace gptc::codegen
