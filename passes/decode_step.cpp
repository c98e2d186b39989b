// The decode-step rewrite (see passes/decode_step.h for what it produces). One walk over the live
// nodes of the forward graph rebuilds them into a new graph, replacing the few that change; types
// are re-inferred by Graph::addNode as the nodes are added, so the cache's longer key axis flows
// through the scores, the mask and the softmax on its own.
#include "passes/decode_step.h"

#include <algorithm>
#include <fmt/format.h>
#include <set>
#include <sstream>

namespace gptc {
namespace {

bool isKind(const Graph& g, int v, OpKind k) {
  return g.values[v].kind == ValueKind::Op && g.defOf(v).kind == k;
}

struct Analysis {
  std::vector<bool> liveNode;  // per node: reaches an output, not through a cut
  std::vector<bool> usedValue; // per value: an operand of a live, emitted node
  std::vector<bool> cut;       // per value
  std::set<int> keys, vals;    // value ids of K and V of causal self-attention
  std::set<int> masks;         // CausalMask nodes
};

/// Marks live nodes from `outputs` backward; dropout passes only x through, cut values stop.
void markLive(const Graph& g, const std::vector<int>& outputs, Analysis& a) {
  std::vector<bool> live(g.values.size(), false);
  for (int o : outputs)
    live[o] = true;
  a.liveNode.assign(g.nodes.size(), false);
  a.usedValue.assign(g.values.size(), false);
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& n = g.nodes[i];
    if (!live[n.result]) continue;
    a.liveNode[i] = true; // a cut node stays, to become an input; its operands are not needed
    if (a.cut[n.result]) continue;
    size_t count = n.kind == OpKind::Dropout ? 1 : n.operands.size();
    for (size_t k = 0; k < count; ++k) {
      live[n.operands[k]] = true;
      a.usedValue[n.operands[k]] = true;
    }
  }
  for (int o : outputs)
    a.usedValue[o] = true;
}

/// Follows x through ops that keep its meaning for attention (scale, dropout, mask_fill's x).
int skipUp(const Graph& g, int v) {
  while (g.values[v].kind == ValueKind::Op) {
    const Node& n = g.defOf(v);
    if (n.kind != OpKind::Scale && n.kind != OpKind::Dropout && n.kind != OpKind::MaskFill) break;
    v = n.operands[0];
  }
  return v;
}

Expected<bool> findAttention(const Graph& g, Analysis& a) {
  // users[v]: live nodes that read v as operand 0 (the path the scores take).
  std::vector<std::vector<int>> users(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (a.liveNode[i])
      for (size_t k = 0; k < g.nodes[i].operands.size(); ++k)
        users[g.nodes[i].operands[k]].push_back(int(i));
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& cm = g.nodes[i];
    if (!a.liveNode[i] || cm.kind != OpKind::CausalMask) continue;
    if (attrInt(cm.attrs, "offset") != 0)
      return Diag{cm.loc, "decode-step: causal_mask with an offset is not a self-attention mask"};
    int s = skipUp(g, cm.operands[0]);
    if (!isKind(g, s, OpKind::MatMul) || attrInt(g.defOf(s).attrs, "tb") != 1 ||
        attrInt(g.defOf(s).attrs, "ta") != 0)
      return Diag{cm.loc, "decode-step: causal_mask does not mask matmul(q, k) {tb = 1} scores"};
    int k = g.defOf(s).operands[1];
    // Down from the mask: mask_fill / scale / softmax / dropout, then matmul(w, v).
    int v = cm.result, value = -1;
    for (int guard = 0; guard < 16 && value < 0; ++guard) {
      if (users[v].size() != 1)
        return Diag{cm.loc, "decode-step: the masked scores are read by more than one op"};
      const Node& u = g.nodes[users[v][0]];
      if (u.kind == OpKind::MatMul && u.operands[0] == v && attrInt(u.attrs, "ta") == 0 &&
          attrInt(u.attrs, "tb") == 0) {
        value = u.operands[1];
      } else if ((u.kind == OpKind::Softmax || u.kind == OpKind::Scale ||
                  u.kind == OpKind::Dropout || u.kind == OpKind::MaskFill) &&
                 u.operands[0] == v) {
        v = u.result;
      } else {
        return Diag{u.loc, fmt::format("decode-step: '{}' between the attention mask and "
                                       "matmul(w, v) is not supported",
                                       opName(u.kind))};
      }
    }
    if (value < 0) return Diag{cm.loc, "decode-step: no matmul(w, v) after the attention mask"};
    if (g.type(k).rank() < 2 || g.type(value).rank() != g.type(k).rank())
      return Diag{cm.loc, "decode-step: keys and values must be [..., T, D]"};
    a.keys.insert(k);
    a.vals.insert(value);
    a.masks.insert(int(i));
  }
  if (a.masks.empty())
    return Diag{{}, "decode-step: the graph has no causal self-attention (causal_mask) to cache"};
  return true;
}

bool isPositionSlice(const Graph& g, const Node& n) {
  return n.kind == OpKind::Slice && g.values[n.operands[0]].kind == ValueKind::Param &&
         attrInt(n.attrs, "axis") == 0 && attrInt(n.attrs, "start") == 0 &&
         g.type(n.operands[0]).rank() == 2;
}

/// Declarations: every param, state kept as is; inputs only when a live node reads them.
void declare(const Graph& g, const Analysis& a, Graph& d, std::vector<int>& map) {
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& x = g.values[v];
    if (x.kind == ValueKind::Param)
      map[v] = d.addParam(x.name, x.type, x.init, x.loc);
    else if (x.kind == ValueKind::State)
      map[v] = d.addState(x.name, x.type, x.init, x.loc);
    else if (x.kind == ValueKind::Input && a.usedValue[v])
      map[v] = d.addInput(x.name, x.type, x.loc);
  }
}

Expected<int> emit(Graph& d, const Node& n, std::vector<int> operands, Attrs attrs,
                   const std::string& name) {
  return d.addNode(n.kind, std::move(operands), std::move(attrs), n.loc, name);
}

} // namespace

Expected<Graph> buildInferenceGraph(const Graph& g, const std::vector<std::string>& outputs) {
  Analysis a;
  a.cut.assign(g.values.size(), false);
  std::vector<int> outs;
  for (const std::string& name : outputs) {
    int id = g.find(name);
    if (id < 0) return Diag{{}, fmt::format("inference graph: the model has no value '{}'", name)};
    outs.push_back(id);
  }
  markLive(g, outs, a);
  Graph d;
  std::vector<int> map(g.values.size(), -1);
  declare(g, a, d, map);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!a.liveNode[i]) continue;
    const Node& n = g.nodes[i];
    if (n.kind == OpKind::Dropout) {
      map[n.result] = map[n.operands[0]];
      continue;
    }
    std::vector<int> ops;
    for (int o : n.operands)
      ops.push_back(map[o]);
    Expected<int> r = emit(d, n, ops, n.attrs, g.values[n.result].name);
    if (!r) return r.error();
    map[n.result] = *r;
  }
  for (int o : outs)
    d.outputs.push_back(map[o]);
  return d;
}

Expected<Graph> buildDecodeStep(const Graph& g, const DecodeOptions& o) {
  int logits = g.find(o.logits);
  if (logits < 0 || g.values[logits].kind != ValueKind::Op)
    return Diag{{}, fmt::format("decode-step: the model has no output '{}'", o.logits)};
  const Node& head = g.defOf(logits);
  const TensorType& headIn = g.type(head.operands[0]);
  if (headIn.rank() < 2)
    return Diag{head.loc, "decode-step: the output layer's input must be [..., T, C]"};
  const int64_t t = headIn.shape[headIn.rank() - 2]; // new tokens per step

  Analysis a;
  a.cut.assign(g.values.size(), false);
  for (const std::string& name : o.cut) {
    int id = g.find(name);
    if (id < 0 || g.values[id].kind != ValueKind::Op)
      return Diag{{}, fmt::format("decode-step: cannot cut at '{}': no such op result", name)};
    a.cut[id] = true;
  }
  markLive(g, {logits}, a);
  if (Expected<bool> found = findAttention(g, a); !found) return found.error();

  int64_t ctx = o.context;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (a.liveNode[i] && isPositionSlice(g, g.nodes[i])) {
      int64_t rows = g.type(g.nodes[i].operands[0]).shape[0];
      if (ctx == 0 || ctx > rows) ctx = rows;
    }
  if (ctx <= 0)
    return Diag{{},
                "decode-step: the model has no learned position table; give the context "
                "length (decode.context)"};
  if (t > ctx)
    return Diag{head.loc,
                fmt::format("decode-step: {} tokens per step exceed the context of {}", t, ctx)};

  Graph d;
  std::vector<int> map(g.values.size(), -1);
  declare(g, a, d, map);
  if (g.find("pos") >= 0)
    return Diag{g.value(g.find("pos")).loc, "decode-step: the model already has a value 'pos'"};
  int pos = d.addInput("pos", TensorType{DType::i32, {}});

  // cache.<k>: created at the first matmul that reads k (or v); its new value replaces k there.
  std::map<int, int> cached;
  auto cacheOf = [&](int kv, const SourceLoc& loc) -> Expected<int> {
    if (auto it = cached.find(kv); it != cached.end()) return it->second;
    TensorType ct = g.type(kv);
    int axis = ct.rank() - 2;
    if (ct.shape[axis] != t)
      return Diag{loc, fmt::format("decode-step: '{}' has {} positions, the step has {}",
                                   g.value(kv).name, ct.shape[axis], t)};
    ct.shape[axis] = ctx;
    std::string name = "cache." + g.value(kv).name;
    int state = d.addState(name, ct, ParamInit{ParamInit::Zeros}, g.value(kv).loc);
    Expected<int> next = d.addNode(OpKind::DynamicUpdateSlice, {state, map[kv], pos},
                                   {{"axis", int64_t(axis)}}, g.value(kv).loc, name + ".new");
    if (!next) return next.error();
    d.updates.push_back({state, *next});
    return cached[kv] = *next;
  };

  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!a.liveNode[i]) continue;
    const Node& n = g.nodes[i];
    const std::string& name = g.values[n.result].name;
    std::vector<int> ops;
    for (int x : n.operands)
      ops.push_back(map[x]);
    Expected<int> r = -1;
    if (a.cut[n.result]) {
      r = d.addInput(name, g.type(n.result), n.loc);
    } else if (n.kind == OpKind::Dropout) {
      r = ops[0];
    } else if (a.masks.count(int(i))) {
      r = d.addNode(OpKind::CausalMaskAt, {ops[0], pos}, {}, n.loc, name);
    } else if (isPositionSlice(g, n)) {
      r = d.addNode(OpKind::DynamicSlice, {ops[0], pos},
                    {{"axis", int64_t(0)}, {"size", attrInt(n.attrs, "end")}}, n.loc, name);
    } else if (n.kind == OpKind::Sinusoidal) {
      Expected<int> table =
          d.addNode(OpKind::Sinusoidal, {}, {{"rows", ctx}, {"dim", attrInt(n.attrs, "dim")}},
                    n.loc, name + ".table");
      if (!table) return table.error();
      r = d.addNode(OpKind::DynamicSlice, {*table, pos},
                    {{"axis", int64_t(0)}, {"size", attrInt(n.attrs, "rows")}}, n.loc, name);
    } else if (n.kind == OpKind::Rope && ops.size() == 1) {
      ops.push_back(pos); // rotary positions: the step's rows are at pos, pos+1, ...
      r = emit(d, n, ops, n.attrs, name);
    } else if (n.kind == OpKind::MatMul &&
               (a.keys.count(n.operands[1]) || a.vals.count(n.operands[1]))) {
      Expected<int> c = cacheOf(n.operands[1], n.loc);
      if (!c) return c.error();
      ops[1] = *c;
      // The scores q·Kᵀ of a step of a few tokens read only the keys written so far
      // (cache_matmul; its columns past them are 0, and masked next). A prefill's many rows go
      // to the packed matmul over the whole cache, which is compute-bound there.
      const TensorType &qt = d.type(ops[0]), &kt = d.type(ops[1]);
      bool sameBatch = qt.rank() == kt.rank() && qt.rank() >= 2 &&
                       std::equal(qt.shape.begin(), qt.shape.end() - 2, kt.shape.begin());
      if (a.keys.count(n.operands[1]) && t <= kCacheMatMulMaxRows && sameBatch &&
          !attrInt(n.attrs, "ta") && attrInt(n.attrs, "tb"))
        r = d.addNode(OpKind::CacheMatMul, {ops[0], ops[1], pos}, {}, n.loc, name);
      else
        r = emit(d, n, ops, n.attrs, name);
    } else if (n.result == logits && t > 1) {
      int axis = headIn.rank() - 2;
      Expected<int> last =
          d.addNode(OpKind::Slice, {ops[0]},
                    {{"axis", int64_t(axis)}, {"start", t - 1}, {"end", t}}, n.loc, "last");
      if (!last) return last.error();
      ops[0] = *last;
      r = emit(d, n, ops, n.attrs, name);
    } else {
      r = emit(d, n, ops, n.attrs, name);
    }
    if (!r) return r.error();
    map[n.result] = *r;
  }
  d.outputs.push_back(map[logits]);
  return d;
}

Expected<bool> runDecodeStep(PassContext& ctx) {
  DecodeOptions o;
  if (auto it = ctx.options.find("decode.context"); it != ctx.options.end())
    o.context = std::stoll(it->second);
  if (auto it = ctx.options.find("decode.cut"); it != ctx.options.end()) {
    std::stringstream ss(it->second);
    for (std::string name; std::getline(ss, name, ',');)
      if (!name.empty()) o.cut.push_back(name);
  }
  Expected<Graph> d = buildDecodeStep(ctx.graph, o);
  if (!d) return d.error();
  ctx.graph = std::move(*d);
  return true;
}

} // namespace gptc
