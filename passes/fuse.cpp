// fuse: operator fusion, visible in the IR. A fused kernel is an ordinary op kind (ir/ops.def's
// last section); this pass rewrites a consumer node into one and leaves the producers it absorbed
// to dce, so `--print-ir-after=fuse` shows exactly what was fused.
//
// Stage 1, candidates, from the op table alone (TVM's OpPatternKind rules): an edge producer ->
// consumer is a fusion candidate when
//   epilogue:   an out-elementwise-fusable producer (matmul, linear) feeds an elementwise or
//               broadcast consumer, which can run on the producer's output tile in registers;
//   chain:      an elementwise/broadcast producer feeds an elementwise/broadcast consumer (one
//               loop);
//   prologue:   an elementwise/broadcast producer feeds a reduction, an opaque row kernel or a
//               contraction, which can apply it as it loads its input;
//   accumulate: an opaque producer feeds an `add` (a gradient accumulation): a kernel that
//               scatters rows (embedding_grad) can add them into the add's other operand in
//               place, touching only the rows it writes instead of zero-filling a whole tensor
//               that the add then streams through.
// Injective (layout) producers are never candidates, nor are opaque producers except into an add:
// a copy or a row kernel does not stream through a consumer's loop.
// Stage 2, kernels: a candidate is fused only when a fused op kind implements the pattern around
// it (the table kPatterns below, one matcher per fused kind). Matchers take chains whose inner
// values have no other reader (a kernel writes one result; an output or update is another reader).
// Stage 3, --explain-fusion: every candidate edge left unfused gets one line saying why (another
// reader, or no fused kernel for that pair of kinds).
//
// Runs after autodiff and the optimizer (fused ops have no gradient rules) and before plan-memory.
// What it leaves to others: removing the absorbed producers (dce, called here), the kernels
// themselves (runtime/interp/interpreter_ops_fused.cpp, codegen/lower_fused.cpp).
#include "passes/dce.h"
#include "passes/pass_manager.h"

#include <fmt/format.h>
#include <functional>
#include <optional>
#include <set>

namespace gptc {
namespace {

enum class Relation { None, Epilogue, Chain, Prologue, Accumulate };

const char* relationName(Relation r) {
  switch (r) {
  case Relation::Epilogue:
    return "epilogue";
  case Relation::Chain:
    return "elementwise chain";
  case Relation::Prologue:
    return "prologue";
  case Relation::Accumulate:
    return "accumulate";
  default:
    return "none";
  }
}

bool pointwise(FusionCategory c) {
  return c == FusionCategory::ElemWise || c == FusionCategory::Broadcast;
}

/// What the categories allow for producer -> consumer (stage 1).
Relation relationOf(OpKind producer, OpKind consumer) {
  FusionCategory p = opInfo(producer).category, c = opInfo(consumer).category;
  if (p == FusionCategory::OutEWiseFusable && pointwise(c)) return Relation::Epilogue;
  if (pointwise(p) && pointwise(c)) return Relation::Chain;
  if (pointwise(p) && (c == FusionCategory::Reduce || c == FusionCategory::Opaque ||
                       c == FusionCategory::OutEWiseFusable))
    return Relation::Prologue;
  if (p == FusionCategory::Opaque && consumer == OpKind::Add) return Relation::Accumulate;
  return Relation::None;
}

/// The graph as the matchers see it: who defines and who reads each value, kept current as
/// consumers are rewritten.
struct Uses {
  const Graph& g;
  std::vector<int> readers;   // per value: operand uses + output/update uses
  std::vector<bool> absorbed; // per node: folded into a fused consumer (dead, dce removes it)

  explicit Uses(const Graph& graph)
      : g(graph), readers(graph.values.size(), 0), absorbed(graph.nodes.size(), false) {
    for (const Node& n : g.nodes)
      for (int o : n.operands)
        readers[o]++;
    for (int o : g.outputs)
      readers[o]++;
    for (const Update& u : g.updates)
      readers[u.value]++;
  }
  /// The node defining value v, or nullptr for inputs, params and state.
  const Node* def(int v) const {
    return g.value(v).kind == ValueKind::Op ? &g.nodes[g.value(v).def] : nullptr;
  }
  /// v's node when it is of `kind` (and not already absorbed).
  const Node* defIs(int v, OpKind kind) const {
    const Node* n = def(v);
    return n && n->kind == kind && !absorbed[g.value(v).def] ? n : nullptr;
  }
};

/// A matcher's verdict. fused: the consumer becomes `kind(operands){attrs}` and `absorbed`
/// nodes die. Otherwise `why` (may be empty: the pattern does not apply here at all).
struct Match {
  bool fused = false;
  OpKind kind{};
  std::vector<int> operands;
  Attrs attrs;
  std::vector<int> absorbed; // value ids whose defining nodes are folded in
  std::string why;
  int about = -1; // the operand `why` is about; -1: every candidate edge into the consumer
};

Match refuse(std::string why) {
  Match m;
  m.why = std::move(why);
  return m;
}

std::string nameOf(const Graph& g, int v) {
  return "%" + g.value(v).name;
}

/// "%9 is also read by another op" when v has readers besides the chain.
std::string alsoRead(const Uses& u, int v) {
  return fmt::format("{} has {} readers; a fused kernel writes one result, so the other readers "
                     "would need it in memory anyway",
                     nameOf(u.g, v), u.readers[v]);
}

// ---- the fused kinds: one matcher each, rooted at the last op of the chain it replaces ----

// softmax(causal_mask(scale(x, s), offset)) -> scale_mask_softmax(x){s, offset}; either of the
// scale and the mask may be absent (s = 1; offset = Tk, which masks nothing).
Match matchScaleMaskSoftmax(const Uses& u, const Node& n) {
  if (n.kind != OpKind::Softmax) return {};
  const Graph& g = u.g;
  const TensorType& t = g.type(n.result);
  if (t.rank() < 2) return refuse("softmax over a vector has no query axis to mask");
  int x = n.operands[0];
  Match m;
  m.kind = OpKind::ScaleMaskSoftmax;
  double s = 1.0;
  int64_t offset = t.shape.back();
  if (const Node* mask = u.defIs(x, OpKind::CausalMask)) {
    if (u.readers[x] != 1) return refuse(alsoRead(u, x));
    offset = attrInt(mask->attrs, "offset");
    m.absorbed.push_back(x);
    x = mask->operands[0];
  }
  if (const Node* sc = u.defIs(x, OpKind::Scale)) {
    if (u.readers[x] == 1) {
      s = attrFloat(sc->attrs, "s");
      m.absorbed.push_back(x);
      x = sc->operands[0];
    } else {
      m.why = alsoRead(u, x);
    }
  }
  if (m.absorbed.empty())
    return refuse(m.why.empty() ? "softmax's input is neither a causal mask nor a scale" : m.why);
  m.fused = true;
  m.operands = {x};
  m.attrs = {{"s", s}, {"offset", offset}};
  return m;
}

// scale(mask_fill(softmax_grad(y, dy), keep){value = 0}, s) -> masked_softmax_grad(y, dy, keep){s};
// the scale may be absent (s = 1). keep must repeat over leading axes only (the kernel indexes it
// by the trailing ones).
Match matchMaskedSoftmaxGrad(const Uses& u, const Node& n) {
  const Graph& g = u.g;
  double s = 1.0;
  Match m;
  const Node* fill = nullptr;
  int filled = -1;
  if (n.kind == OpKind::Scale) {
    filled = n.operands[0];
    fill = u.defIs(filled, OpKind::MaskFill);
    if (!fill) return {};
    if (u.readers[filled] != 1) return refuse(alsoRead(u, filled));
    s = attrFloat(n.attrs, "s");
    m.absorbed.push_back(filled);
  } else if (n.kind == OpKind::MaskFill) {
    fill = &n;
  } else {
    return {};
  }
  int grad = fill->operands[0], keep = fill->operands[1];
  const Node* sg = u.defIs(grad, OpKind::SoftmaxGrad);
  if (!sg) return {};
  if (u.readers[grad] != 1) return refuse(alsoRead(u, grad));
  if (attrFloat(fill->attrs, "value") != 0.0)
    return refuse("mask_fill of a softmax gradient with a value other than 0");
  const Shape &ys = g.type(grad).shape, &ks = g.type(keep).shape;
  if (ks.size() > ys.size() || !std::equal(ks.begin(), ks.end(), ys.end() - ks.size()))
    return refuse(fmt::format("keep {} broadcasts over inner axes of {}; the fused kernel repeats "
                              "it over leading axes only",
                              shapeToString(ks), shapeToString(ys)));
  m.absorbed.push_back(grad);
  m.fused = true;
  m.kind = OpKind::MaskedSoftmaxGrad;
  m.operands = {sg->operands[0], sg->operands[1], keep};
  m.attrs = {{"s", s}};
  return m;
}

// gelu(linear(x, w, b)) -> linear_gelu(x, w, b)
Match matchLinearGelu(const Uses& u, const Node& n) {
  if (n.kind != OpKind::Gelu) return {};
  int pre = n.operands[0];
  const Node* lin = u.defIs(pre, OpKind::Linear);
  if (!lin) return {};
  if (u.readers[pre] != 1) return refuse(alsoRead(u, pre));
  Match m;
  m.fused = true;
  m.kind = OpKind::LinearGelu;
  m.operands = lin->operands;
  m.absorbed = {pre};
  return m;
}

// gelu_grad(x, matmul(a, b)) -> matmul_gelu_grad(a, b, x)
Match matchMatMulGeluGrad(const Uses& u, const Node& n) {
  if (n.kind != OpKind::GeluGrad) return {};
  int dy = n.operands[1];
  const Node* mm = u.defIs(dy, OpKind::MatMul);
  if (!mm) return {};
  if (u.readers[dy] != 1) return refuse(alsoRead(u, dy));
  Match m;
  m.fused = true;
  m.kind = OpKind::MatMulGeluGrad;
  m.operands = {mm->operands[0], mm->operands[1], n.operands[0]};
  m.attrs = {{"ta", attrInt(mm->attrs, "ta")}, {"tb", attrInt(mm->attrs, "tb")}};
  m.absorbed = {dy};
  return m;
}

// add(acc, embedding_grad(ids, dy){rows}) or add(embedding_grad(...), acc) ->
// embedding_grad_add(acc, ids, dy): the scatter adds its rows into acc (in place when acc dies
// here), so the [rows,C] zero-filled scatter result is never made. Only on exact shapes: the add
// must not broadcast either side. The kernel sums a row's contributions before adding them to
// acc, as the two ops round; add is commutative bit for bit, so either operand order fuses.
Match matchEmbeddingGradAdd(const Uses& u, const Node& n) {
  if (n.kind != OpKind::Add) return {};
  const Graph& g = u.g;
  Match refused;
  for (int k : {1, 0}) { // autodiff's order first: add(other contributions, embedding_grad)
    int scatter = n.operands[k], acc = n.operands[1 - k];
    const Node* eg = u.defIs(scatter, OpKind::EmbeddingGrad);
    if (!eg) continue;
    Match m;
    if (u.readers[scatter] != 1) {
      m = refuse(alsoRead(u, scatter));
    } else if (g.type(acc) != g.type(scatter)) {
      m = refuse(fmt::format("{} {} and {} {} differ: the add broadcasts, and the fused kernel "
                             "scatters into an accumulator of the scatter's own shape",
                             nameOf(g, acc), typeToString(g.type(acc)), nameOf(g, scatter),
                             typeToString(g.type(scatter))));
    } else {
      m.fused = true;
      m.kind = OpKind::EmbeddingGradAdd;
      m.operands = {acc, eg->operands[0], eg->operands[1]};
      m.absorbed = {scatter};
      return m;
    }
    m.about = scatter;
    if (refused.why.empty()) refused = m;
  }
  return refused;
}

// mul(silu(g), u) or mul(u, silu(g)) -> swiglu(g, u): SwiGLU's gate, silu(x W1) * (x W3), as one
// loop; silu's result never reaches memory. Only on exact shapes (the mul must not broadcast:
// swiglu takes g and u of one shape). In a training step silu(g) is also read by the mul's
// gradient (du = dy * silu(g)), so there it stays apart, and --explain-fusion says so; a model
// that writes swiglu itself gets du = swiglu(g, dy) from swiglu's gradient rule instead.
Match matchSwiGLU(const Uses& u, const Node& n) {
  if (n.kind != OpKind::Mul) return {};
  const Graph& g = u.g;
  Match refused;
  for (int k : {0, 1}) {
    int gate = n.operands[k], up = n.operands[1 - k];
    const Node* silu = u.defIs(gate, OpKind::Silu);
    if (!silu) continue;
    Match m;
    if (u.readers[gate] != 1) {
      m = refuse(alsoRead(u, gate));
    } else if (g.type(gate) != g.type(up)) {
      m = refuse(fmt::format("{} {} and {} {} differ: the mul broadcasts, and swiglu takes a gate "
                             "and an up projection of one shape",
                             nameOf(g, gate), typeToString(g.type(gate)), nameOf(g, up),
                             typeToString(g.type(up))));
    } else {
      m.fused = true;
      m.kind = OpKind::SwiGLU;
      m.operands = {silu->operands[0], up};
      m.absorbed = {gate};
      return m;
    }
    m.about = gate;
    if (refused.why.empty()) refused = m;
  }
  return refused;
}

using Matcher = Match (*)(const Uses&, const Node&);
struct Pattern {
  OpKind kind; ///< the fused kind it makes
  Matcher match;
};
constexpr Pattern kPatterns[] = {
    {OpKind::ScaleMaskSoftmax, &matchScaleMaskSoftmax},
    {OpKind::MaskedSoftmaxGrad, &matchMaskedSoftmaxGrad},
    {OpKind::LinearGelu, &matchLinearGelu},
    {OpKind::MatMulGeluGrad, &matchMatMulGeluGrad},
    {OpKind::EmbeddingGradAdd, &matchEmbeddingGradAdd},
    {OpKind::SwiGLU, &matchSwiGLU},
};

std::string locPrefix(const Node& n) {
  return n.loc.known() ? fmt::format("{}:{}:{}: ", n.loc.file, n.loc.line, n.loc.col) : "";
}

} // namespace

Expected<bool> runFuse(PassContext& ctx) {
  Graph& g = ctx.graph;
  Uses u(g);
  // why[value of producer, consumer node] for candidates a matcher refused with a reason
  std::map<std::pair<int, int>, std::string> refused;
  int fusedCount = 0;
  // Last op first: a chain is matched from its end, so scale(mask_fill(softmax_grad)) is seen
  // whole before mask_fill(softmax_grad) could be taken alone.
  for (int i = g.numOps() - 1; i >= 0; --i) {
    if (u.absorbed[i]) continue;
    const Node& n = g.nodes[i];
    for (const Pattern& pattern : kPatterns) {
      Match m = pattern.match(u, n);
      if (!m.fused) {
        if (!m.why.empty())
          for (int o : n.operands)
            if ((m.about < 0 || m.about == o) && u.def(o) &&
                relationOf(u.def(o)->kind, n.kind) != Relation::None)
              refused[{o, i}] = fmt::format("{} ({})", m.why, opName(pattern.kind));
        continue;
      }
      ctx.count(fmt::format("fuse.{}", opName(m.kind)));
      for (int o : n.operands)
        u.readers[o]--;
      for (int v : m.absorbed) {
        u.absorbed[g.value(v).def] = true;
        for (int o : g.nodes[g.value(v).def].operands)
          u.readers[o]--;
      }
      for (int o : m.operands)
        u.readers[o]++;
      Node& target = g.nodes[i];
      target.kind = m.kind;
      target.operands = m.operands;
      target.attrs = m.attrs;
      Expected<TensorType> t = inferType(
          m.kind,
          [&] {
            std::vector<TensorType> ts;
            for (int o : m.operands)
              ts.push_back(g.type(o));
            return ts;
          }(),
          target.attrs);
      if (!t || *t != g.type(target.result))
        return ctx.diagAt(target.loc, fmt::format("fuse: {} would change the type of {} (a bug "
                                                  "in its matcher)",
                                                  opName(m.kind), nameOf(g, target.result)));
      ++fusedCount;
      break;
    }
  }

  if (ctx.explainFusion) {
    // Every candidate edge (stage 1) that is still an edge: a matcher's reason, or none fits.
    std::set<std::string> seen;
    for (int i = 0; i < g.numOps(); ++i) {
      const Node& n = g.nodes[i];
      if (u.absorbed[i]) continue;
      for (int o : n.operands) {
        const Node* p = u.def(o);
        if (!p || u.absorbed[g.value(o).def]) continue;
        Relation r = relationOf(p->kind, n.kind);
        if (r == Relation::None) continue;
        auto it = refused.find({o, i});
        std::string why = it != refused.end() ? it->second
                                              : fmt::format("no fused kernel implements {} -> {}",
                                                            opName(p->kind), opName(n.kind));
        std::string line =
            fmt::format("{}not fused: {} ({}) -> {} ({}) [{}]: {}", locPrefix(n), nameOf(g, o),
                        opName(p->kind), nameOf(g, n.result), opName(n.kind), relationName(r), why);
        if (seen.insert(line).second) ctx.fusionNotes.push_back(line);
      }
    }
  }
  if (fusedCount) ctx.count("fuse.dce-removed", removeDeadNodes(g));
  return fusedCount > 0;
}

} // namespace gptc
