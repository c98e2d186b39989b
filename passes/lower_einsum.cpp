// The lower-einsum pass: rewrites every einsum (ir/einsum.h) into the contractions and layout ops
// the rest of the compiler knows, so autodiff differentiates those (einsum's gradient is the
// lowering's), decode-step recognizes attention, fusion and the memory plan see ordinary ops, and
// the dump shows what an einsum costs.
//
// One operand: reduce_sum over the axes missing from the output, then a transpose to its order.
// Two operands a, b: first each operand's private summed axes (in neither the other operand nor
// the output) are reduce_summed; the remaining axes are batch (a, b, output), M (a, output),
// N (b, output) and K (a, b: contracted). Then
//     a -> [batch..., M, K] (or [batch..., K, M] as is, with ta = 1)
//     b -> [batch..., K, N] (or [batch..., N, K] as is, with tb = 1)
//     matmul -> [batch..., M, N] -> reshape to every axis -> transpose to the output's order.
// Transposes and reshapes that would not move anything are not emitted: "b h t d, b h s d ->
// b h t s" is exactly matmul(q, k) {tb = 1}, the form decode-step looks for. Several M, N, K or
// batch axes are flattened into one by reshape. The final op takes the einsum's name.
//
// What it leaves to others: parsing and checking the spec (ir/einsum.cpp, via the shape rule),
// cleaning up (simplify, CSE, DCE).
#include "passes/lower_einsum.h"
#include "ir/einsum.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {
namespace {

using Axes = std::vector<std::string>;

bool has(const Axes& a, const std::string& n) {
  return std::find(a.begin(), a.end(), n) != a.end();
}

Axes concat(std::initializer_list<const Axes*> parts) {
  Axes out;
  for (const Axes* p : parts)
    out.insert(out.end(), p->begin(), p->end());
  return out;
}

struct Lowerer {
  Graph& d;
  const EinsumSpec& s;
  SourceLoc loc;
  std::string name; // the einsum's result name
  int temps = 0;

  Expected<int> op(OpKind kind, std::vector<int> operands, Attrs attrs, bool last = false) {
    std::string n = last ? name : d.uniqueName(fmt::format("{}.es{}", name, temps++));
    return d.addNode(kind, std::move(operands), std::move(attrs), loc, n);
  }

  /// x (axes `from`) transposed to `to` (the same names); x itself when already in that order.
  Expected<int> permute(int x, const Axes& from, const Axes& to, bool last = false) {
    std::vector<int64_t> perm;
    bool identity = true;
    for (size_t i = 0; i < to.size(); ++i) {
      int64_t j = std::find(from.begin(), from.end(), to[i]) - from.begin();
      perm.push_back(j);
      identity = identity && j == int64_t(i);
    }
    if (identity && !last) return x;
    if (identity) return op(OpKind::Reshape, {x}, {{"shape", d.type(x).shape}}, true);
    return op(OpKind::Transpose, {x}, {{"perm", perm}}, last);
  }

  /// x reshaped to `shape`, or x when it has that shape already.
  Expected<int> reshape(int x, const Shape& shape) {
    if (d.type(x).shape == shape) return x;
    return op(OpKind::Reshape, {x}, {{"shape", shape}});
  }

  /// Sums x (axes `ax`) over the axes `drop`; `ax` becomes what is left.
  Expected<int> sumOut(int x, Axes& ax, const Axes& drop) {
    std::vector<int64_t> idx;
    Axes left;
    for (size_t i = 0; i < ax.size(); ++i)
      if (has(drop, ax[i]))
        idx.push_back(int64_t(i));
      else
        left.push_back(ax[i]);
    if (idx.empty()) return x;
    ax = left;
    return op(OpKind::ReduceSum, {x}, {{"axes", idx}, {"keepdims", int64_t(0)}});
  }

  int64_t prod(const Axes& ax) const {
    int64_t p = 1;
    for (const std::string& a : ax)
      p *= s.sizes.at(a);
    return p;
  }
  Shape sizesOf(const Axes& ax) const {
    Shape out;
    for (const std::string& a : ax)
      out.push_back(s.sizes.at(a));
    return out;
  }

  Expected<int> lower(std::vector<int> xs) {
    if (xs.size() == 1) {
      Axes ax = s.inputs[0];
      Expected<int> x = sumOut(xs[0], ax, s.summed);
      if (!x) return x;
      return permute(*x, ax, s.output, true);
    }
    Axes a = s.inputs[0], b = s.inputs[1];
    Axes privA, privB;
    for (const std::string& n : a)
      if (!has(b, n) && !has(s.output, n)) privA.push_back(n);
    for (const std::string& n : b)
      if (!has(a, n) && !has(s.output, n)) privB.push_back(n);
    Expected<int> x = sumOut(xs[0], a, privA);
    if (!x) return x;
    Expected<int> y = sumOut(xs[1], b, privB);
    if (!y) return y;
    Axes batch, M, N, K;
    for (const std::string& n : s.output) {
      if (has(a, n) && has(b, n))
        batch.push_back(n);
      else if (has(a, n))
        M.push_back(n);
      else
        N.push_back(n);
    }
    for (const std::string& n : a)
      if (has(b, n) && !has(s.output, n)) K.push_back(n);
    // ta/tb read an operand whose contracted axes come first (a) or last (b) as it is.
    Axes bmk = concat({&batch, &M, &K}), bkm = concat({&batch, &K, &M});
    Axes bkn = concat({&batch, &K, &N}), bnk = concat({&batch, &N, &K});
    int64_t ta = a == bkm && a != bmk, tb = b == bnk && b != bkn;
    Expected<int> pa = permute(*x, a, ta ? bkm : bmk);
    if (!pa) return pa;
    Expected<int> pb = permute(*y, b, tb ? bnk : bkn);
    if (!pb) return pb;
    // No flattening when every group is one axis (batch leading in both: a batched matmul), or
    // when b is a matrix shared by the rows of a (a projection "b t c, d c -> b t d").
    bool plain = M.size() == 1 && N.size() == 1 && K.size() == 1;
    bool shared = batch.empty() && K.size() == 1 && N.size() == 1 && !M.empty() && !ta;
    if (!plain && !shared) { // [B, M, K] and [B, K, N] (no B without batch axes)
      Shape sa, sb;
      if (!batch.empty()) sa.push_back(prod(batch)), sb.push_back(prod(batch));
      // (vectors, not initializer lists: a list in a ?: dies before the loop runs)
      std::vector<const Axes*> ga =
          ta ? std::vector<const Axes*>{&K, &M} : std::vector<const Axes*>{&M, &K};
      std::vector<const Axes*> gb =
          tb ? std::vector<const Axes*>{&N, &K} : std::vector<const Axes*>{&K, &N};
      for (const Axes* g : ga)
        sa.push_back(prod(*g));
      for (const Axes* g : gb)
        sb.push_back(prod(*g));
      pa = reshape(*pa, sa);
      if (!pa) return pa;
      pb = reshape(*pb, sb);
      if (!pb) return pb;
    }
    Axes mn = concat({&batch, &M, &N});
    Shape full = sizesOf(mn), product;
    if (plain || shared) {
      product = full;
    } else {
      if (!batch.empty()) product.push_back(prod(batch));
      product.push_back(prod(M)), product.push_back(prod(N));
    }
    bool needReshape = product != full, needPermute = mn != s.output;
    Expected<int> mm =
        op(OpKind::MatMul, {*pa, *pb}, {{"ta", ta}, {"tb", tb}}, !needReshape && !needPermute);
    if (!mm || (!needReshape && !needPermute)) return mm;
    if (needReshape) {
      mm = op(OpKind::Reshape, {*mm}, {{"shape", full}}, !needPermute);
      if (!mm || !needPermute) return mm;
    }
    return permute(*mm, mn, s.output, true);
  }
};

} // namespace

Expected<int> lowerEinsums(Graph& g) {
  int count = 0;
  for (const Node& n : g.nodes)
    count += n.kind == OpKind::Einsum;
  if (count == 0) return 0;
  Graph d;
  std::vector<int> map(g.values.size(), -1);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& x = g.values[v];
    if (x.kind == ValueKind::Input) map[v] = d.addInput(x.name, x.type, x.loc);
    if (x.kind == ValueKind::Param) map[v] = d.addParam(x.name, x.type, x.init, x.loc);
    if (x.kind == ValueKind::State) map[v] = d.addState(x.name, x.type, x.init, x.loc);
  }
  for (const Node& n : g.nodes) {
    std::vector<int> ops;
    for (int o : n.operands)
      ops.push_back(map[o]);
    const std::string& name = g.values[n.result].name;
    Expected<int> r = -1;
    if (n.kind == OpKind::Einsum) {
      std::vector<TensorType> types;
      for (int o : ops)
        types.push_back(d.type(o));
      Expected<EinsumSpec> s = parseEinsum(attrString(n.attrs, "spec"), types);
      if (!s) return Diag{n.loc, s.error().message};
      r = Lowerer{d, *s, n.loc, name}.lower(ops);
    } else {
      r = d.addNode(n.kind, ops, n.attrs, n.loc, name);
    }
    if (!r) return r.error();
    map[n.result] = *r;
  }
  for (int o : g.outputs)
    d.outputs.push_back(map[o]);
  for (const Update& u : g.updates)
    d.updates.push_back({map[u.state], map[u.value]});
  g = std::move(d);
  return count;
}

Expected<bool> runLowerEinsum(PassContext& ctx) {
  Expected<int> n = lowerEinsums(ctx.graph);
  if (!n) {
    const Diag& e = n.error();
    return e.loc.known() ? ctx.diagAt(e.loc, e.message) : e;
  }
  ctx.count("lower-einsum.einsums", *n);
  return *n > 0;
}

} // namespace gptc
