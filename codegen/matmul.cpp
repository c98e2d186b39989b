// codegen/matmul.cpp — the blocking plan for a matmul shape (planMatmul), the scratch size, and
// CompiledMatmul (one kernel in its own JIT, run on the thread team, for tests and the benchmark).
// The IR itself is emitted by matmul_emit.cpp; the choices here are explained in docs/matmul.md.
#include "codegen/matmul.h"

#include "codegen/jit.h"
#include "codegen/llvm_context.h"
#include "codegen/matmul_emit.h"
#include "codegen/thread_count.h"
#include "codegen/thread_team.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gptc::codegen {

namespace {

int64_t ceilDiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}
int64_t roundUp(int64_t a, int64_t b) {
  return ceilDiv(a, b) * b;
}

// Cache budgets the blocking aims at (bytes). They are deliberately below the physical sizes
// (Zen 4/5: L1D 32/48 KiB, L2 1 MiB per core) because C tiles, the other operand's stream and
// the hardware prefetchers need room too.
constexpr int64_t kL1Budget = 32 * 1024;   // one packed B sliver: kc × NR floats
constexpr int64_t kL2BudgetA = 384 * 1024; // the packed A block: mc × kc floats
constexpr int64_t kL2BudgetB = 512 * 1024; // the packed B panel: kc × nc floats

} // namespace

std::string validateMatmulShape(const MatmulShape& s) {
  if (s.batch < 1) return "matmul: batch must be >= 1";
  if (s.M < 1 || s.N < 1 || s.K < 1) return "matmul: M, N, K must be >= 1";
  if (s.batch * s.M * s.K >= (int64_t(1) << 40) || s.batch * s.M * s.N >= (int64_t(1) << 40))
    return "matmul: tensor too large";
  return "";
}

MatmulPlan planMatmul(const MatmulShape& s, const MatmulTuning& t) {
  MatmulPlan p;
  const HostTarget& host = hostTarget();
  p.lanes = t.lanes ? t.lanes : host.floatLanes();
  // Micro-tile: as many accumulators as the register file allows while leaving registers for the
  // B vectors of one k step (the A broadcasts fold into the FMAs' memory operand on AVX-512).
  //   AVX-512 (32 zmm): 14×32 → 28 accumulators + 2 B vectors.
  //   AVX2    (16 ymm):  6×16 → 12 accumulators + 2 B vectors + 1 broadcast.
  int mr = p.lanes == 16 ? 14 : 6;
  int nr = 2 * p.lanes;
  if (t.mr) mr = t.mr;
  if (t.nr) nr = t.nr;
  p.mr = std::min(mr, p.lanes);
  p.nr = int(roundUp(nr, p.lanes));

  // K blocks: a B sliver (kc × NR) should stay in L1 while it is reused for every A sliver.
  int64_t kcTarget = t.kc ? t.kc : std::max<int64_t>(p.lanes, kL1Budget / (4 * p.nr));
  p.kBlocks = ceilDiv(s.K, kcTarget);
  p.kc = ceilDiv(s.K, p.kBlocks);
  if (p.kBlocks > 1) p.kc = roundUp(p.kc, p.lanes); // full-width transposes in all but the last
  p.kBlocks = ceilDiv(s.K, p.kc);
  p.kcLast = s.K - (p.kBlocks - 1) * p.kc;

  // M blocks: the packed A block (mc × kc) stays in L2 while every B sliver of the panel passes.
  int64_t mcTarget = t.mc ? t.mc : std::max<int64_t>(p.mr, kL2BudgetA / (4 * p.kc));
  mcTarget = std::max<int64_t>(p.mr, mcTarget / p.mr * p.mr);
  p.mBlocks = ceilDiv(s.M, mcTarget);
  p.mc = roundUp(ceilDiv(s.M, p.mBlocks), p.mr);
  p.mBlocks = ceilDiv(s.M, p.mc);

  // N blocks: the packed B panel (kc × nc). Every N block re-packs the A rows it needs, so larger
  // is better, but there must be enough work items to share among the threads.
  int threads = t.threadsHint ? t.threadsHint : defaultThreadCount();
  threads = std::max(threads, 1);
  int64_t ncTarget = t.nc ? t.nc : std::max<int64_t>(p.nr, kL2BudgetB / (4 * p.kc));
  ncTarget = std::max<int64_t>(p.nr, ncTarget / p.nr * p.nr);
  auto setN = [&](int64_t nBlocksWanted) {
    p.nc = roundUp(ceilDiv(s.N, nBlocksWanted), p.nr);
    p.nBlocks = ceilDiv(s.N, p.nc);
    p.items = s.batch * p.mBlocks * p.nBlocks;
  };
  setN(ceilDiv(s.N, ncTarget));
  if (!t.nc) {
    // Balance: the item count should be a multiple of the thread count, or large enough that
    // the remainder does not matter (≥ 8 items per thread). Split N further (down to 2 slivers
    // per block) to get there; if N cannot, split M.
    auto balanced = [&] { return p.items % threads == 0 || p.items >= 8 * threads; };
    for (int64_t nb = p.nBlocks; !balanced() && ceilDiv(s.N, nb + 1) >= 2 * p.nr; ++nb) {
      setN(nb + 1);
    }
    if (!balanced() && !t.mc) {
      for (int64_t mb = p.mBlocks + 1; !balanced() && ceilDiv(s.M, mb) >= p.mr; ++mb) {
        p.mc = roundUp(ceilDiv(s.M, mb), p.mr);
        p.mBlocks = ceilDiv(s.M, p.mc);
        p.items = s.batch * p.mBlocks * p.nBlocks;
      }
    }
  }
  // Runs of M blocks per item. An item packs its B panel (kc × nc, every K block) once and reuses
  // it for each of its M blocks; with one M block per item the panel is packed again for every M
  // block, which costs ~5-10% when mc is small (GPT-2's 256-row matmuls: 2 blocks of 132 rows).
  // Short M (≤ 2 blocks): whole columns of C blocks per item, splitting N further if that gives
  // enough columns for the claim loop to balance (≥ 4 per thread, or ≥ 2 per thread and a
  // multiple of the thread count). Tall M: the longest runs that still leave ≥ 4 items per
  // thread. The result does not depend on the choice: each C block is computed by one thread,
  // K blocks in order.
  auto setRun = [&](int64_t run) {
    p.runM = std::clamp<int64_t>(run, 1, p.mBlocks);
    p.items = s.batch * p.nBlocks * ceilDiv(p.mBlocks, p.runM);
  };
  auto columnsBalance = [&](int64_t units) {
    return units >= 4 * threads || (units >= 2 * threads && units % threads == 0);
  };
  if (t.runM) {
    setRun(t.runM);
  } else if (p.mBlocks <= 2) {
    int64_t nb = p.nBlocks;
    if (!t.nc)
      while (!columnsBalance(s.batch * nb) && ceilDiv(s.N, nb + 1) >= 4 * p.nr)
        ++nb;
    if (columnsBalance(s.batch * nb)) {
      if (nb != p.nBlocks) setN(nb);
      setRun(p.mBlocks);
    }
  } else {
    const int64_t units = s.batch * p.nBlocks, wanted = 4 * threads;
    int64_t run = p.mBlocks;
    while (run > 1 && units * ceilDiv(p.mBlocks, run) < wanted)
      --run;
    setRun(run);
  }
  p.packABytes = roundUp(p.mc * p.kc * 4, 64);
  p.packBBytes = roundUp(p.nc * p.kc * 4, 64);
  return p;
}

std::string describe(const MatmulPlan& p) {
  return "lanes=" + std::to_string(p.lanes) + " tile=" + std::to_string(p.mr) + "x" +
         std::to_string(p.nr) + " kc=" + std::to_string(p.kc) + "x" + std::to_string(p.kBlocks) +
         " mc=" + std::to_string(p.mc) + "x" + std::to_string(p.mBlocks) +
         " nc=" + std::to_string(p.nc) + "x" + std::to_string(p.nBlocks) +
         (p.runM > 1 ? " run=" + std::to_string(p.runM) : std::string()) +
         " items=" + std::to_string(p.items);
}

int64_t matmulScratchBytes(const MatmulShape& shape, const MatmulTuning& tuning) {
  MatmulPlan p = planMatmul(shape, tuning);
  return p.packABytes + p.packBBytes;
}

struct CompiledMatmul::Holder {
  std::unique_ptr<Jit> jit;
};

CompiledMatmul::CompiledMatmul() = default;
CompiledMatmul::~CompiledMatmul() {
  std::free(scratch_);
}

std::unique_ptr<CompiledMatmul> CompiledMatmul::compile(const MatmulShape& shape, std::string* err,
                                                        const MatmulTuning& tuning,
                                                        bool captureCode) {
  if (std::string why = validateMatmulShape(shape); !why.empty()) {
    if (err) *err = why;
    return nullptr;
  }
  std::unique_ptr<CompiledMatmul> cm(new CompiledMatmul());
  cm->shape_ = shape;
  cm->plan_ = planMatmul(shape, tuning);
  cm->scratchBytes_ = cm->plan_.packABytes + cm->plan_.packBBytes;

  JitOptions opts;
  opts.captureIR = captureCode;
  opts.captureAsm = captureCode;
  cm->holder_ = std::make_unique<Holder>();
  cm->holder_->jit = Jit::create(opts, err);
  if (!cm->holder_->jit) return nullptr;

  ModuleBuilder mb("gptc_matmul");
  emitMatmulKernel(mb, shape, cm->plan_, "gptc_matmul");
  if (!cm->holder_->jit->addModule(std::move(mb), err)) return nullptr;
  cm->kernel_ = reinterpret_cast<MatmulKernelFn>(cm->holder_->jit->lookup("gptc_matmul", err));
  if (!cm->kernel_) return nullptr;
  if (captureCode) {
    cm->ir_ = cm->holder_->jit->irAfterOptimization();
    cm->asm_ = cm->holder_->jit->assembly();
  }
  return cm;
}

void CompiledMatmul::run(const float* A, const float* B, float* C, const float* bias, int threads) {
  if (threads <= 0) threads = defaultThreadCount();
  if (threads > scratchThreads_) {
    std::free(scratch_);
    size_t bytes = size_t(scratchBytes_) * size_t(threads);
    scratch_ = static_cast<float*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    scratchThreads_ = threads;
  }
  MatmulKernelFn k = kernel_;
  float* scratch = scratch_;
  const int64_t stride = scratchBytes_ / 4;
  alignas(64) int64_t work[8] = {}; // one work slot: the item counter
  ThreadTeam::shared().run(
      threads, [&](int tid, int nt) { k(A, B, C, bias, scratch + tid * stride, tid, nt, work); });
}

} // namespace gptc::codegen
