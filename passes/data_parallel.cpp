// data-parallel: the training step of one rank of an MPI job of N ranks (pass option
// `data-parallel.ranks`; 1, the default, changes nothing). Every rank runs the same step on its own
// B rows of the global N·B batch (rank r: rows r·B … (r+1)·B−1); this pass makes the ranks agree.
//
// What it does, after autodiff and before the optimizer:
//   - gradients: each grad.<param> is summed over the ranks and divided by N, so every rank holds
//     the gradient of the global batch's mean loss (the mean of the ranks' means, B rows each)
//     before the optimizer reads it — global_norm and clipping then see the reduced gradients.
//     Gradients are taken in the order the backward produces them (their defining node's place in
//     the graph) and packed into buckets of about `data-parallel.bucket-bytes` (default 8 MiB):
//     a bucket of one gradient is allreduce(g); of several, concat(reshape(g_i, [n_i])…) reduced
//     once, then sliced and reshaped back. A bucket's allreduce depends only on its own gradients,
//     so the scheduler may run it while the rest of the backward still computes.
//       %grad.wte.local : f32[Vp,C]   (the rank's own, renamed)
//       %dp.bucket0     = allreduce(%grad.wte.local)      sum over the ranks
//       %grad.wte       = scale(%dp.bucket0) {s = 1/N}    what the optimizer reads
//   - the loss: `loss` becomes scale(allreduce(loss.local), 1/N), the global batch's mean loss,
//     the number the trainer prints (the same on every rank, and the single-process number).
//   - dropout: every dropout gets the runtime input `row0 : i32[]` (the rank's first global row,
//     r·B) so its mask is the single-process batch's mask for these rows (ir/ops.def, dropout).
//   - ZeRO-1 (`data-parallel.zero=1`): each gradient is reduce_scatter'ed instead (one per
//     gradient), and grad.<param> is this rank's slice f32[ceil(n/N)] of the mean gradient; the
//     runtime input `rank : i32[]` is added for the optimizer, which updates the slice and
//     all-gathers the parameter (passes/optimizer.h, zeroRanks).
//
// What it leaves to others: the collectives' semantics and kernels (ir/ops.def, codegen/,
// runtime/exec/mpi_comm.h), each rank's rows and row0 (runtime/train/trainer.cpp), the AdamW update
// and the norm (passes/optimizer.cpp).
#include "passes/autodiff.h"
#include "passes/pass_manager.h"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>

namespace gptc {

namespace {

/// A non-negative integer pass option, `fallback` when absent; an error names the option.
Expected<int64_t> intOption(const PassContext& ctx, const std::string& key, int64_t fallback) {
  auto it = ctx.options.find(key);
  if (it == ctx.options.end()) return fallback;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < 0)
    return Diag{
        {},
        fmt::format("data-parallel: option {} = '{}' must be an integer >= 0", key, it->second)};
  return int64_t(v);
}

/// Renames value `id` to `name` (free) and rebuilds the name index.
void rename(Graph& g, int id, const std::string& name) {
  g.values[id].name = g.uniqueName(name);
  g.reindex();
}

} // namespace

Expected<bool> runDataParallel(PassContext& ctx) {
  Graph& g = ctx.graph;
  Expected<int64_t> ranks = intOption(ctx, "data-parallel.ranks", 1);
  if (!ranks) return ranks.error();
  Expected<int64_t> bucketBytes = intOption(ctx, "data-parallel.bucket-bytes", 8 << 20);
  if (!bucketBytes) return bucketBytes.error();
  Expected<int64_t> zero = intOption(ctx, "data-parallel.zero", 0);
  if (!zero) return zero.error();
  if (*ranks < 1) return Diag{{}, "data-parallel: ranks must be >= 1"};
  if (*zero > 1) return Diag{{}, "data-parallel: only ZeRO stage 1 (zero=1) exists"};
  if (*ranks == 1) return false;
  const int64_t N = *ranks;
  const double invN = 1.0 / double(N);

  // Each param's gradient, in the order the backward defines them.
  struct Grad {
    int param, value, def;
  };
  std::vector<Grad> grads;
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].kind != ValueKind::Param) continue;
    int gv = g.find(gradName(g.values[v].name));
    if (gv < 0) continue;
    if (g.values[gv].kind != ValueKind::Op || g.type(gv).dtype != DType::f32)
      return Diag{g.values[gv].loc,
                  fmt::format("data-parallel: '{}' is not an f32 op result", g.values[gv].name)};
    grads.push_back({int(v), gv, g.values[gv].def});
  }
  if (grads.empty())
    return Diag{{}, "data-parallel: no param has a gradient (grad.<param>); run autodiff first"};
  std::stable_sort(grads.begin(), grads.end(),
                   [](const Grad& a, const Grad& b) { return a.def < b.def; });

  // Dropout keyed by the global row.
  int row0 = -1;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    if (g.nodes[n].kind != OpKind::Dropout || g.nodes[n].operands.size() > 2) continue;
    if (row0 < 0) row0 = g.addInput("row0", TensorType{DType::i32, {}});
    g.nodes[n].operands.push_back(row0);
  }

  auto replaceOutput = [&](int from, int to) {
    std::replace(g.outputs.begin(), g.outputs.end(), from, to);
  };

  // The loss: the mean over the ranks of their means.
  if (int loss = g.find("loss"); loss >= 0 && g.values[loss].kind == ValueKind::Op) {
    SourceLoc at = g.values[loss].loc;
    rename(g, loss, "loss.local");
    int sum = g.add(OpKind::AllReduce, {loss}, {}, at, "loss.sum");
    int mean = g.add(OpKind::Scale, {sum}, {{"s", invN}}, at, "loss");
    replaceOutput(loss, mean);
  }

  int buckets = 0, reduced = 0;
  if (*zero == 1) {
    // ZeRO-1: each gradient reduce-scattered; this rank keeps the mean of its slice, and the
    // optimizer updates that slice (passes/optimizer.h, zeroRanks).
    if (g.find("rank") < 0) g.addInput("rank", TensorType{DType::i32, {}});
    for (const Grad& gr : grads) {
      std::string name = g.values[gr.value].name;
      SourceLoc at = g.values[gr.value].loc;
      rename(g, gr.value, name + ".local");
      int rs = g.add(OpKind::ReduceScatter, {gr.value}, {{"ranks", N}}, at,
                     g.uniqueName(fmt::format("dp.bucket{}", buckets)));
      int mean = g.add(OpKind::Scale, {rs}, {{"s", invN}}, at, name); // f32[S]
      replaceOutput(gr.value, mean);
      ++reduced;
      ++buckets;
    }
  } else {
    // Buckets of consecutive gradients (backward order), each reduced by one allreduce.
    size_t i = 0;
    while (i < grads.size()) {
      size_t j = i;
      int64_t bytes = 0;
      do {
        bytes += g.type(grads[j].value).numel() * 4;
        ++j;
      } while (j < grads.size() && bytes + g.type(grads[j].value).numel() * 4 <= *bucketBytes);
      std::string bucket = g.uniqueName(fmt::format("dp.bucket{}", buckets));
      SourceLoc at = g.values[grads[j - 1].value].loc;
      std::vector<std::pair<int, std::string>> named; // (local grad, its final name)
      for (size_t k = i; k < j; ++k) {
        std::string name = g.values[grads[k].value].name;
        rename(g, grads[k].value, name + ".local");
        named.push_back({grads[k].value, name});
      }
      if (j - i == 1) {
        auto [local, name] = named[0];
        int sum = g.add(OpKind::AllReduce, {local}, {}, at, bucket);
        int mean = g.add(OpKind::Scale, {sum}, {{"s", invN}}, at, name);
        replaceOutput(local, mean);
      } else {
        std::vector<int> flat;
        for (auto [local, name] : named)
          flat.push_back(g.add(OpKind::Reshape, {local},
                               {{"shape", std::vector<int64_t>{g.type(local).numel()}}}, at));
        int packed = g.add(OpKind::Concat, flat, {{"axis", int64_t(0)}}, at); // f32[Σ n_i]
        int sum = g.add(OpKind::AllReduce, {packed}, {}, at, bucket);
        int mean = g.add(OpKind::Scale, {sum}, {{"s", invN}}, at);
        int64_t off = 0;
        for (auto [local, name] : named) {
          int64_t n = g.type(local).numel();
          int piece = g.add(OpKind::Slice, {mean},
                            {{"axis", int64_t(0)}, {"start", off}, {"end", off + n}}, at);
          int back = g.add(OpKind::Reshape, {piece}, {{"shape", g.type(local).shape}}, at, name);
          replaceOutput(local, back);
          off += n;
        }
      }
      reduced += int(j - i);
      ++buckets;
      i = j;
    }
  }
  ctx.count("data-parallel.ranks", N);
  ctx.count("data-parallel.gradients", reduced);
  ctx.count("data-parallel.collectives", buckets);
  return true;
}

} // namespace gptc
