#include "passes/liveness.h"

namespace gptc {

StorageInfo analyzeViews(const Graph& g) {
  size_t n = g.values.size();
  StorageInfo s{
      std::vector<int>(n, -1), std::vector<int64_t>(n, 0), std::vector<bool>(n, false), {}};
  for (const Node& node : g.nodes) {
    int r = node.result;
    switch (node.kind) {
    case OpKind::Reshape:
      s.viewOf[r] = node.operands[0];
      s.noCode[r] = true;
      break;
    case OpKind::Select: // x[index] on axis 0: a contiguous block of the stack
      s.viewOf[r] = node.operands[0];
      s.delta[r] = attrInt(node.attrs, "index") * g.type(r).bytes();
      s.noCode[r] = true;
      break;
    case OpKind::Slice: {
      // Contiguous when every axis before the sliced one has size 1: then the slice is one block.
      const Shape& in = g.type(node.operands[0]).shape;
      int axis = int(attrInt(node.attrs, "axis"));
      if (axis < 0) axis += int(in.size());
      int64_t outer = 1, inner = 4;
      for (int d = 0; d < axis; ++d)
        outer *= in[d];
      for (size_t d = axis + 1; d < in.size(); ++d)
        inner *= in[d];
      if (outer == 1) {
        s.viewOf[r] = node.operands[0];
        s.delta[r] = attrInt(node.attrs, "start") * inner;
        s.noCode[r] = true;
      }
      break;
    }
    default:
      break;
    }
  }
  // The new value of `update %state = %new` is written straight into the state's bytes.
  for (const Update& u : g.updates)
    if (g.values[u.value].kind == ValueKind::Op && s.viewOf[u.value] < 0)
      s.viewOf[u.value] = u.state;
  resolveRoots(s);
  return s;
}

void resolveRoots(StorageInfo& s) {
  size_t n = s.viewOf.size();
  s.root.assign(n, -1);
  for (size_t v = 0; v < n; ++v) {
    int cur = int(v);
    int guard = 0;
    while (s.viewOf[cur] >= 0 && guard++ < int(n))
      cur = s.viewOf[cur];
    s.root[v] = cur;
  }
}

std::vector<int> positionsOf(const Graph& g, const std::vector<int>& schedule) {
  std::vector<int> pos(g.nodes.size(), -1);
  for (size_t i = 0; i < schedule.size(); ++i)
    pos[schedule[i]] = int(i);
  return pos;
}

Intervals computeIntervals(const Graph& g, const std::vector<int>& schedule, const StorageInfo& s) {
  size_t n = g.values.size();
  int steps = int(schedule.size());
  Intervals iv{std::vector<int>(n, -1), std::vector<int>(n, -1)};
  std::vector<int> pos = positionsOf(g, schedule);
  auto touch = [&](int value, int at) {
    int r = s.root[value];
    if (iv.end[r] < at) iv.end[r] = at;
  };
  for (size_t v = 0; v < n; ++v) {
    if (s.root[v] != int(v)) continue;
    iv.start[v] = g.values[v].kind == ValueKind::Op ? pos[g.values[v].def] : -1;
    iv.end[v] = iv.start[v];
  }
  for (int p = 0; p < steps; ++p) {
    const Node& node = g.nodes[schedule[p]];
    for (int o : node.operands)
      touch(o, p);
    touch(node.result, p); // a view or in-place result keeps its owner alive while it is written
    // An operand of a stack computed into its slice is written before the stack that owns the
    // bytes: the owner lives from the first such write.
    int r = s.root[node.result];
    if (g.values[r].kind == ValueKind::Op && p < iv.start[r]) iv.start[r] = p;
  }
  for (int o : g.outputs)
    touch(o, steps);
  for (const Update& u : g.updates)
    touch(u.value, steps);
  return iv;
}

} // namespace gptc
