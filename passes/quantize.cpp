// quantize: weights in bf16 or i8 for inference and decoding (`--weights bf16|int8`; pass option
// `quantize.weights`, default f32 = no change). Batch-1 decoding reads every weight once per token,
// so its speed is set by the bytes it streams; this pass makes the weights narrower.
//
// What it does, on a flat inference or decode graph (after dce):
//   - a weight is a param P (f32, its last axis K contiguous) read as linear's w, or as
//     matmul(x, w){ta = 0, tb = 1}'s w (a tied output layer), directly or through select(P){l}
//     (GPT-2's stacked layers);
//   - each such P gets `param P.q : bf16[shape of P]`, or for int8 `param P.q : i8[...]` and
//     `param P.scale : f32[..., K/block]` (block 32 by default, ggml's q8_0; `quantize.block=row`
//     or --weights int8-row give one scale per row). The runtime fills them at load from the f32 P
//     (runtime/formats/quantize.h), so checkpoints stay f32. P itself stays only if something else
//     reads it (the tied embedding reads wte's rows: it keeps f32 wte and its matmul reads wte.q);
//   - a contraction with at most `quantize.gemv-rows` rows of x (4, codegen's GEMV threshold: the
//     decode step) becomes qlinear(x, P.q, b, P.scale) or qmatmul(x, P.q, P.scale), which
//     dequantize in registers; a larger one (prefill, evaluation: compute-bound, and the packed
//     GEMM reads f32) reads dequantize(P.q, P.scale), an f32 copy, in place of P;
//   - with i8 weights, qlinear/qmatmul get {xblock = 32}: they quantize x too, per 32 values, and
//     take integer dot products (ggml's q8_0 × q8_0; `quantize.activations=f32` keeps x in f32).
// Quantized K must be a multiple of the block (for int8); weights where it is not stay f32.
//
// What it leaves to others: the numbers (runtime/formats/quantize.h: round-to-nearest-even, q8
// blocks), the kernels (codegen/lower_quantize.cpp, runtime/interp/interpreter_ops_quantize.cpp),
// dropping what no longer has a reader (dce runs after it).
#include "passes/quantize.h"

#include <fmt/format.h>
#include <map>

namespace gptc {
namespace {

struct Weight {
  int param = -1;  // the f32 param P
  int select = -1; // select(P){index}'s node, or -1 when w is P itself
};

/// The param behind operand w (P or select(P)), when w is a quantizable weight.
Weight weightOf(const Graph& g, int w) {
  const Value& v = g.values[w];
  if (v.kind == ValueKind::Param) return v.type.dtype == DType::f32 ? Weight{w, -1} : Weight{};
  if (v.kind != ValueKind::Op) return {};
  const Node& n = g.defOf(w);
  if (n.kind != OpKind::Select) return {};
  int p = n.operands[0];
  if (g.values[p].kind != ValueKind::Param || g.type(p).dtype != DType::f32) return {};
  return {p, v.def};
}

/// Rows of x that a contraction over x's last axis computes.
int64_t rowsOf(const TensorType& x) {
  return x.numel() / std::max<int64_t>(1, x.shape.back());
}

} // namespace

Expected<Graph> quantizeWeights(const Graph& g, const QuantizeOptions& o) {
  if (o.dtype != DType::bf16 && o.dtype != DType::i8)
    return Diag{{}, "quantize: the weights' dtype must be bf16 or i8"};
  // 1. Which nodes read which weight, and which params are read by anything else too.
  std::map<int, Weight> rewrite;                   // node index -> its weight
  std::vector<int> otherReads(g.values.size(), 0); // per param: reads not through a rewrite
  std::vector<int> selectOtherReads(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    bool contraction =
        n.kind == OpKind::Linear ||
        (n.kind == OpKind::MatMul && attrInt(n.attrs, "ta") == 0 && attrInt(n.attrs, "tb") == 1);
    Weight w = contraction ? weightOf(g, n.operands[1]) : Weight{};
    if (w.param >= 0) {
      const TensorType& pt = g.type(w.param);
      const int64_t k = pt.shape.back();
      const int64_t block = o.block > 0 ? o.block : k;
      bool ok = g.type(n.operands[1]).rank() == 2 && (o.dtype == DType::bf16 || k % block == 0);
      if (ok)
        rewrite[int(i)] = w;
      else
        w = {};
    }
    for (size_t k = 0; k < n.operands.size(); ++k) {
      int v = n.operands[k];
      if (k == 1 && w.param >= 0) continue;
      // A select's read of P counts below, when something other than a rewrite reads the select.
      if (g.values[v].kind == ValueKind::Param && n.kind != OpKind::Select) ++otherReads[v];
      if (g.values[v].kind == ValueKind::Op && g.defOf(v).kind == OpKind::Select)
        ++selectOtherReads[g.values[v].def];
    }
  }
  for (int o2 : g.outputs)
    if (g.values[o2].kind == ValueKind::Param) ++otherReads[o2];
  // A select read by something else keeps P alive.
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].kind == OpKind::Select && selectOtherReads[i])
      ++otherReads[g.nodes[i].operands[0]];
  std::vector<bool> quantized(g.values.size(), false);
  for (const auto& [node, w] : rewrite)
    quantized[w.param] = true;

  // 2. Rebuild: declarations (P.q and P.scale where P was), then the nodes.
  Graph d;
  std::vector<int> map(g.values.size(), -1), qOf(g.values.size(), -1), sOf(g.values.size(), -1);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& x = g.values[v];
    if (x.kind == ValueKind::Input) map[v] = d.addInput(x.name, x.type, x.loc);
    if (x.kind == ValueKind::State) map[v] = d.addState(x.name, x.type, x.init, x.loc);
    if (x.kind != ValueKind::Param) continue;
    if (!quantized[v] || otherReads[v]) map[v] = d.addParam(x.name, x.type, x.init, x.loc);
    if (!quantized[v]) continue;
    qOf[v] = d.addParam(x.name + ".q", TensorType{o.dtype, x.type.shape}, x.init, x.loc);
    if (o.dtype == DType::i8) {
      Shape s = x.type.shape;
      s.back() = o.block > 0 ? s.back() / o.block : 1;
      sOf[v] = d.addParam(x.name + ".scale", TensorType{DType::f32, s}, ParamInit{ParamInit::Ones},
                          x.loc);
    }
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const std::string& name = g.values[n.result].name;
    if (n.kind == OpKind::Select && map[n.operands[0]] < 0 && !selectOtherReads[i])
      continue; // only rewritten contractions read it: they select from P.q instead
    std::vector<int> ops;
    for (int x : n.operands)
      ops.push_back(map[x]);
    auto it = rewrite.find(int(i));
    if (it == rewrite.end()) {
      Expected<int> r = d.addNode(n.kind, ops, n.attrs, n.loc, name);
      if (!r) return r.error();
      map[n.result] = *r;
      continue;
    }
    // The weight and its scale, selected like P was.
    const Weight& w = it->second;
    int q = qOf[w.param], s = sOf[w.param];
    if (w.select >= 0) {
      const Node& sel = g.nodes[w.select];
      const std::string& sname = g.values[sel.result].name;
      q = d.add(OpKind::Select, {q}, sel.attrs, sel.loc, d.uniqueName(sname + ".q"));
      if (s >= 0)
        s = d.add(OpKind::Select, {s}, sel.attrs, sel.loc, d.uniqueName(sname + ".scale"));
    }
    Expected<int> r = -1;
    if (rowsOf(g.type(n.operands[0])) <= o.gemvRows) {
      std::vector<int> qops = n.kind == OpKind::Linear ? std::vector<int>{ops[0], q, ops[2]}
                                                       : std::vector<int>{ops[0], q};
      if (s >= 0) qops.push_back(s);
      Attrs qa;
      if (o.dtype == DType::i8) qa["xblock"] = o.xblock;
      r = d.addNode(n.kind == OpKind::Linear ? OpKind::QLinear : OpKind::QMatMul, qops, qa, n.loc,
                    name);
    } else {
      std::vector<int> dops{q};
      if (s >= 0) dops.push_back(s);
      ops[1] = d.add(OpKind::Dequantize, dops, {}, n.loc, d.uniqueName(name + ".w"));
      r = d.addNode(n.kind, ops, n.attrs, n.loc, name);
    }
    if (!r) return r.error();
    map[n.result] = *r;
  }
  for (int out : g.outputs)
    d.outputs.push_back(map[out]);
  for (const Update& u : g.updates)
    d.updates.push_back({map[u.state], map[u.value]});
  return d;
}

Expected<bool> runQuantize(PassContext& ctx) {
  QuantizeOptions o;
  auto opt = [&](const char* key) -> std::string {
    auto it = ctx.options.find(key);
    return it == ctx.options.end() ? "" : it->second;
  };
  std::string weights = opt("quantize.weights");
  if (weights.empty() || weights == "f32") return false;
  if (weights == "bf16")
    o.dtype = DType::bf16;
  else if (weights == "int8")
    o.dtype = DType::i8;
  else if (weights == "int8-row") { // one scale per row: the alternative to blocks, for measuring
    o.dtype = DType::i8;
    o.block = 0;
  } else
    return Diag{{},
                fmt::format("quantize: --weights must be f32, bf16 or int8 (or int8-row), "
                            "got '{}'",
                            weights)};
  if (std::string b = opt("quantize.block"); b == "row")
    o.block = 0;
  else if (!b.empty()) {
    o.block = std::atoll(b.c_str());
    if (o.block <= 0)
      return Diag{{}, fmt::format("quantize: block must be > 0 or 'row', got '{}'", b)};
  }
  if (std::string r = opt("quantize.gemv-rows"); !r.empty()) o.gemvRows = std::atoll(r.c_str());
  if (std::string a = opt("quantize.activations"); a == "f32")
    o.xblock = 0;
  else if (!a.empty() && a != "i8")
    return Diag{{}, fmt::format("quantize: activations must be i8 or f32, got '{}'", a)};
  Expected<Graph> d = quantizeWeights(ctx.graph, o);
  if (!d) return d.error();
  int after = 0;
  for (const Value& v : d->values)
    after += v.kind == ValueKind::Param && v.type.dtype != DType::f32;
  ctx.count("quantize.weights", after);
  ctx.graph = std::move(*d);
  return after > 0;
}

} // namespace gptc
