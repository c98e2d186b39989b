// Interpreter kernels for the collectives (ir/ops.def's "collectives" rows): the runtime's MPI
// layer (runtime/exec/mpi_comm.h) does the work, so the interpreter and the JIT
// (codegen/collectives.h, which the same layer serves) reduce the same bytes in the same way. On 1
// rank they are copies.
#include "runtime/interp/interpreter_kernels.h"

#include "runtime/exec/mpi_comm.h"

#include <fmt/format.h>

namespace gptc {

std::string eval_AllReduce(EvalArgs& e) {
  const Tensor& x = *e.in[0]; // (...)
  mpi::allreduceSum(x.f.data(), e.out.f.data(), x.numel());
  return "";
}

std::string eval_ReduceScatter(EvalArgs& e) {
  const Tensor& x = *e.in[0]; // (...) -> [S]
  int ranks = int(attrInt(e.attrs, "ranks"));
  if (ranks != mpi::world().size)
    return fmt::format("reduce_scatter over {} ranks in a job of {}", ranks, mpi::world().size);
  mpi::reduceScatter(x.f.data(), e.out.f.data(), x.numel(), ranks);
  return "";
}

std::string eval_AllGather(EvalArgs& e) {
  const Tensor& x = *e.in[0]; // [S] -> (shape)
  int ranks = int(attrInt(e.attrs, "ranks"));
  if (ranks != mpi::world().size)
    return fmt::format("all_gather over {} ranks in a job of {}", ranks, mpi::world().size);
  mpi::allGather(x.f.data(), e.out.f.data(), e.out.numel(), ranks);
  return "";
}

} // namespace gptc
