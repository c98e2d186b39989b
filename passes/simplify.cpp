// simplify: exact algebraic identities and layout clean-ups, each a small named rewrite with a
// counter ("simplify.<name>", shown by `gptc compile`'s summary).
//
// How it works: one sweep in program order. Each node's operands are first redirected through the
// forwards found so far (so chains like reshape(reshape(reshape(x))) collapse in one sweep), then
// the rewrite table is tried until none applies. A rewrite either
//   - forwards: the node computes its operand unchanged, so every use of its result is redirected
//   to
//     that operand (the node itself is left for dce), or
//   - folds in place: the node absorbs its producer (scale(scale(x)) -> one scale of x); its
//     result keeps its name and type, the producer may become dead.
// A node whose result is a graph output is never forwarded: the runtime reads outputs by name.
//
// Exactness: every rewrite gives bit-identical results except scale-of-scale, which is exact in
// real arithmetic but rounds once instead of twice in f32 (x*a*b vs x*(a*b): at most an ulp).
// add-of-zero maps -0 to +0 (equal as numbers).
//
// What it leaves to others: deleting dead nodes (dce), merging duplicates (cse), anything that
// needs new nodes or a cost model (fusion), and constant folding of whole tensors (not needed yet:
// the only constants are fill and sinusoidal).
#include "passes/pass_manager.h"

#include <cmath>
#include <numeric>
#include <unordered_set>

namespace gptc {
namespace {

/// What a rewrite did to a node.
struct Outcome {
  enum Kind : uint8_t { None, Forward, InPlace } kind = None;
  int to = -1; // Forward: the value that replaces the node's result

  static Outcome none() { return {}; }
  static Outcome forward(int v) { return {Forward, v}; }
  static Outcome inPlace() { return {InPlace, -1}; }
};

/// The node defining `v`, or nullptr for inputs/params/state.
const Node* producer(const Graph& g, int v) {
  const Value& val = g.value(v);
  return val.kind == ValueKind::Op ? &g.nodes[val.def] : nullptr;
}

/// `v` when replacing `n`'s result by `v` keeps the type (broadcasting ops could widen), else none.
Outcome forwardIfSameType(const Graph& g, const Node& n, int v) {
  return g.type(v) == g.type(n.result) ? Outcome::forward(v) : Outcome::none();
}

bool isFillOf(const Graph& g, int v, double value) {
  const Node* p = producer(g, v);
  return p && p->kind == OpKind::Fill && attrFloat(p->attrs, "value") == value;
}

// ---- the rewrites, one small function each ----

Outcome scaleByOne(Graph& g, Node& n) { // scale(x){s=1} -> x
  if (n.kind != OpKind::Scale || attrFloat(n.attrs, "s") != 1.0) return Outcome::none();
  return Outcome::forward(n.operands[0]);
}

Outcome scaleOfScale(Graph& g, Node& n) { // scale(scale(x){a}){b} -> scale(x){a*b}
  if (n.kind != OpKind::Scale) return Outcome::none();
  const Node* inner = producer(g, n.operands[0]);
  if (!inner || inner->kind != OpKind::Scale) return Outcome::none();
  n.attrs["s"] = attrFloat(n.attrs, "s") * attrFloat(inner->attrs, "s");
  n.operands[0] = inner->operands[0];
  return Outcome::inPlace();
}

Outcome reshapeOfReshape(Graph& g, Node& n) { // reshape(reshape(x)) -> reshape(x), outer shape
  if (n.kind != OpKind::Reshape) return Outcome::none();
  const Node* inner = producer(g, n.operands[0]);
  if (!inner || inner->kind != OpKind::Reshape) return Outcome::none();
  n.operands[0] = inner->operands[0]; // same element count, row-major order unchanged
  return Outcome::inPlace();
}

Outcome reshapeToSameShape(Graph& g, Node& n) { // reshape(x) to x's own shape -> x
  if (n.kind != OpKind::Reshape) return Outcome::none();
  return forwardIfSameType(g, n, n.operands[0]);
}

Outcome transposeIdentity(Graph& g, Node& n) { // transpose(x){perm = 0,1,..} -> x
  if (n.kind != OpKind::Transpose) return Outcome::none();
  const auto& perm = attrInts(n.attrs, "perm");
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != int64_t(i)) return Outcome::none();
  return Outcome::forward(n.operands[0]);
}

Outcome transposeOfTranspose(Graph& g,
                             Node& n) { // transpose(transpose(x){p}){q} -> transpose(x){p∘q}
  if (n.kind != OpKind::Transpose) return Outcome::none();
  const Node* inner = producer(g, n.operands[0]);
  if (!inner || inner->kind != OpKind::Transpose) return Outcome::none();
  // out.shape[i] = y.shape[q[i]] and y.shape[j] = x.shape[p[j]], so out.shape[i] =
  // x.shape[p[q[i]]].
  const auto& p = attrInts(inner->attrs, "perm");
  const auto& q = attrInts(n.attrs, "perm");
  std::vector<int64_t> composed(q.size());
  for (size_t i = 0; i < q.size(); ++i)
    composed[i] = p[q[i]];
  n.attrs["perm"] = composed; // transposeIdentity then removes it when the two cancel
  n.operands[0] = inner->operands[0];
  return Outcome::inPlace();
}

Outcome dropoutZero(Graph& g, Node& n) { // dropout(x){p=0} -> x (keep all, scale by 1/(1-0))
  if (n.kind != OpKind::Dropout || attrFloat(n.attrs, "p") != 0.0) return Outcome::none();
  return Outcome::forward(n.operands[0]);
}

Outcome mergeOfSplit(Graph& g, Node& n) { // merge_heads(split_heads(x)) -> x
  if (n.kind != OpKind::MergeHeads) return Outcome::none();
  const Node* inner = producer(g, n.operands[0]);
  if (!inner || inner->kind != OpKind::SplitHeads) return Outcome::none();
  return forwardIfSameType(g, n, inner->operands[0]);
}

Outcome splitOfMerge(Graph& g,
                     Node& n) { // split_heads(merge_heads(x)){heads=H} -> x, x has H heads
  if (n.kind != OpKind::SplitHeads) return Outcome::none();
  const Node* inner = producer(g, n.operands[0]);
  if (!inner || inner->kind != OpKind::MergeHeads) return Outcome::none();
  return forwardIfSameType(g, n, inner->operands[0]); // same type <=> same head count
}

Outcome sliceWholeAxis(Graph& g, Node& n) { // slice(x){start=0, end=dim} -> x
  if (n.kind != OpKind::Slice) return Outcome::none();
  return forwardIfSameType(g, n, n.operands[0]); // the shape rule admits only in-range slices
}

Outcome padNothing(Graph& g, Node& n) { // pad(x){before=0, after=0} -> x
  if (n.kind != OpKind::Pad) return Outcome::none();
  return forwardIfSameType(g, n, n.operands[0]);
}

Outcome broadcastToSameShape(Graph& g, Node& n) { // broadcast(x) to x's shape -> x
  if (n.kind != OpKind::Broadcast) return Outcome::none();
  return forwardIfSameType(g, n, n.operands[0]);
}

Outcome concatOfOne(Graph& g, Node& n) { // concat(x) -> x
  if (n.kind != OpKind::Concat || n.operands.size() != 1) return Outcome::none();
  return forwardIfSameType(g, n, n.operands[0]);
}

Outcome addZeroFill(Graph& g, Node& n) { // add(x, fill 0), add(fill 0, x), sub(x, fill 0) -> x
  if (n.kind != OpKind::Add && n.kind != OpKind::Sub) return Outcome::none();
  if (isFillOf(g, n.operands[1], 0.0)) return forwardIfSameType(g, n, n.operands[0]);
  if (n.kind == OpKind::Add && isFillOf(g, n.operands[0], 0.0))
    return forwardIfSameType(g, n, n.operands[1]);
  return Outcome::none();
}

Outcome mulOnesFill(Graph& g, Node& n) { // mul(x, fill 1), mul(fill 1, x), div(x, fill 1) -> x
  if (n.kind != OpKind::Mul && n.kind != OpKind::Div) return Outcome::none();
  if (isFillOf(g, n.operands[1], 1.0)) return forwardIfSameType(g, n, n.operands[0]);
  if (n.kind == OpKind::Mul && isFillOf(g, n.operands[0], 1.0))
    return forwardIfSameType(g, n, n.operands[1]);
  return Outcome::none();
}

struct Rewrite {
  const char* name; // the counter: simplify.<name>
  Outcome (*apply)(Graph&, Node&);
};

// Folds come before forwards of the same op, so a chain folds first and the result is then checked
// for being a no-op (transpose(transpose) -> identity transpose -> x).
const Rewrite kRewrites[] = {
    {"scale-of-scale", scaleOfScale},
    {"scale-by-one", scaleByOne},
    {"reshape-of-reshape", reshapeOfReshape},
    {"reshape-to-same-shape", reshapeToSameShape},
    {"transpose-of-transpose", transposeOfTranspose},
    {"transpose-identity", transposeIdentity},
    {"dropout-p0", dropoutZero},
    {"merge-of-split-heads", mergeOfSplit},
    {"split-of-merge-heads", splitOfMerge},
    {"slice-whole-axis", sliceWholeAxis},
    {"pad-nothing", padNothing},
    {"broadcast-same-shape", broadcastToSameShape},
    {"concat-of-one", concatOfOne},
    {"add-zero-fill", addZeroFill},
    {"mul-ones-fill", mulOnesFill},
};

} // namespace

/// The rewrite names, in the order they are tried (for docs and tests).
std::vector<std::string> simplifyRewriteNames() {
  std::vector<std::string> out;
  for (const Rewrite& r : kRewrites)
    out.push_back(r.name);
  return out;
}

Expected<bool> runSimplify(PassContext& ctx) {
  Graph& g = ctx.graph;
  std::unordered_set<int> outputs(g.outputs.begin(), g.outputs.end());
  std::vector<int> forward(g.values.size());
  std::iota(forward.begin(), forward.end(), 0);
  bool changed = false;

  for (Node& n : g.nodes) {
    for (int& o : n.operands) {
      if (forward[o] != o) changed = true;
      o = forward[o];
    }
    // In-place folds can expose another rewrite; each fold removes a producer from the chain, so
    // this terminates.
    for (bool again = true; again;) {
      again = false;
      for (const Rewrite& r : kRewrites) {
        bool isOutput = outputs.count(n.result) > 0;
        Outcome out = r.apply(g, n);
        if (out.kind == Outcome::None) continue;
        if (out.kind == Outcome::Forward && isOutput) continue; // keep the output's name
        ctx.count(std::string("simplify.") + r.name);
        changed = true;
        if (out.kind == Outcome::Forward) {
          forward[n.result] = out.to;
          break; // the node is now dead; nothing more to do with it
        }
        again = true;
        break;
      }
      if (forward[n.result] != n.result) break;
    }
  }
  for (Update& u : g.updates)
    u.value = forward[u.value];
  return changed;
}

} // namespace gptc
