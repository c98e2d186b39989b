// fuse-attention: attention's chain of ops becomes one `attention` op, before autodiff.
//
//   matmul(dropout(softmax(mask_fill(causal_mask(scale(matmul(q, k){tb=1}, s), offset), keep)),
//          seed){p, salt}, v)
//   -> attention(q, k, v, keep?, seed?){s, causal, offset, padded, p, salt}
//
// The scale, either mask (in either order; mask_fill's value must be -inf) and the dropout may be
// absent. Every value inside the chain must have the chain as its only reader (an output, an
// update, or another op reading the scores or the weights needs them in memory, which is what
// fusing avoids). The rewritten node is the chain's last matmul, so its result keeps its name and
// type; dce (called here) removes the absorbed ops.
//
// Why before autodiff, unlike `fuse`: the unfused backward needs the forward's [...,Tq,Tk] weights
// (softmax_grad reads them) and writes [...,Tq,Tk] gradients; fusing after autodiff would have to
// match and replace that whole backward subgraph too. Before autodiff, attention's own gradient
// rule (passes/gradients.cpp: one attention_grad that recomputes the weights block by block) is
// the backward, and no T×T value exists anywhere in the step.
//
// What it leaves to others: the kernels (runtime/interp/interpreter_ops_attention.cpp, the
// composition; codegen/lower_attention.cpp, blocked online softmax), the gradient (gradients.cpp),
// the trace (tools/cmd_train.cpp disables this pass with --trace, which observes the scores and
// weights). The pass runs when the pass option attention.fused is 1. gptc's commands set it by
// default (--no-fused-attention clears it); a caller of the pass manager asks for it.
#include "passes/dce.h"
#include "passes/pass_manager.h"

#include <cmath>
#include <fmt/format.h>
#include <optional>

namespace gptc {
namespace {

struct Chain {
  int q = -1, k = -1, v = -1, keep = -1, seed = -1;
  double s = 1.0, p = 0.0;
  int64_t causal = 0, offset = 0, salt = 0;
};

class Matcher {
public:
  explicit Matcher(const Graph& g) : g_(g), readers_(g.values.size(), 0) {
    for (const Node& n : g.nodes)
      for (int o : n.operands)
        readers_[o]++;
    for (int o : g.outputs)
      readers_[o] += 2; // never absorbed: the step hands it out
    for (const Update& u : g.updates)
      readers_[u.value] += 2;
  }

  /// The chain ending at node `root` (a matmul), or nullopt.
  std::optional<Chain> match(const Node& root) const {
    if (root.kind != OpKind::MatMul || attrInt(root.attrs, "ta") || attrInt(root.attrs, "tb"))
      return std::nullopt;
    Chain c;
    c.v = root.operands[1];
    int x = root.operands[0];
    if (const Node* d = only(x, OpKind::Dropout)) {
      if (d->operands.size() > 2) return std::nullopt; // keyed by a global row (row0): unfused
      c.p = attrFloat(d->attrs, "p");
      c.salt = attrInt(d->attrs, "salt");
      if (c.p > 0) c.seed = d->operands[1];
      x = d->operands[0];
    }
    const Node* soft = only(x, OpKind::Softmax);
    if (!soft) return std::nullopt;
    x = soft->operands[0];
    for (int round = 0; round < 2; ++round) { // the masks commute: both write -inf
      if (const Node* m = only(x, OpKind::CausalMask); m && !c.causal) {
        c.causal = 1;
        c.offset = attrInt(m->attrs, "offset");
        x = m->operands[0];
      } else if (const Node* f = only(x, OpKind::MaskFill);
                 f && c.keep < 0 && std::isinf(attrFloat(f->attrs, "value")) &&
                 attrFloat(f->attrs, "value") < 0) {
        c.keep = f->operands[1];
        x = f->operands[0];
      }
    }
    if (const Node* sc = only(x, OpKind::Scale)) {
      c.s = attrFloat(sc->attrs, "s");
      x = sc->operands[0];
    }
    const Node* qk = only(x, OpKind::MatMul);
    if (!qk || attrInt(qk->attrs, "ta") || !attrInt(qk->attrs, "tb")) return std::nullopt;
    c.q = qk->operands[0];
    c.k = qk->operands[1];
    // attention takes q, k, v of one rank with the same leading dims (a shared 2-D k or v is a
    // matmul the kernel does not do)
    int r = g_.type(c.q).rank();
    if (r < 2 || g_.type(c.k).rank() != r || g_.type(c.v).rank() != r) return std::nullopt;
    return c;
  }

private:
  /// The node defining v when it is of `kind` and v's only reader is the chain.
  const Node* only(int v, OpKind kind) const {
    if (g_.value(v).kind != ValueKind::Op || readers_[v] != 1) return nullptr;
    const Node& n = g_.nodes[g_.value(v).def];
    return n.kind == kind ? &n : nullptr;
  }
  const Graph& g_;
  std::vector<int> readers_;
};

} // namespace

Expected<bool> runFuseAttention(PassContext& ctx) {
  // Asked for by the caller: gptc's commands do by default, the pass-manager tests choose.
  auto on = ctx.options.find("attention.fused");
  if (on == ctx.options.end() || on->second != "1") return false;
  // Under mpirun data-parallel (after autodiff) keys each dropout by the rank's global row (its
  // row0 operand); attention's dropout has no row0, so with more than one rank a chain with
  // dropout stays unfused (every rank would otherwise drop the same weights).
  auto ranks = ctx.options.find("data-parallel.ranks");
  bool manyRanks = ranks != ctx.options.end() && ranks->second != "1";
  Graph& g = ctx.graph;
  int fused = 0;
  // Matched against the graph as it was: a rewritten root never feeds another chain's inner
  // values (attention's result is [...,Tq,Dv], not scores).
  Matcher m(g);
  for (int i = 0; i < g.numOps(); ++i) {
    std::optional<Chain> c = m.match(g.nodes[i]);
    if (!c || (manyRanks && c->seed >= 0)) continue;
    Node& n = g.nodes[i];
    std::vector<int> operands{c->q, c->k, c->v};
    if (c->keep >= 0) operands.push_back(c->keep);
    if (c->seed >= 0) operands.push_back(c->seed);
    Attrs attrs{{"s", c->s},
                {"causal", c->causal},
                {"offset", c->offset},
                {"padded", int64_t(c->keep >= 0)},
                {"p", c->seed >= 0 ? c->p : 0.0},
                {"salt", c->salt}};
    std::vector<TensorType> types;
    for (int o : operands)
      types.push_back(g.type(o));
    Expected<TensorType> t = inferType(OpKind::Attention, types, attrs);
    if (!t || *t != g.type(n.result)) continue; // shapes the op does not take: leave it unfused
    n.kind = OpKind::Attention;
    n.operands = std::move(operands);
    n.attrs = std::move(attrs);
    ++fused;
  }
  if (!fused) return false;
  ctx.count("fuse-attention.attention", fused);
  ctx.count("fuse-attention.dce-removed", removeDeadNodes(g));
  return true;
}

} // namespace gptc
