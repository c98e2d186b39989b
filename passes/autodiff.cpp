// Reverse-mode autodiff over the flat Graph (see passes/autodiff.h for the contract).
//
// Stages: (1) activity analysis -- a value needs a gradient when it depends on a param through
// differentiable operands ('!' operands in ir/ops.def never carry one) and the loss depends on it;
// (2) seed d.loss = 1; (3) walk the forward ops in reverse, and for each active op first finish the
// gradient of its result (sum of the contributions of its users, with `add`), then call the op's
// rule (passes/gradients.cpp) for the contributions to its operands; (4) finish each param's
// gradient as `grad.<param>` and make it an output.
//
// Names: the gradient of %x is %d.x; when x has several users each contribution is %d.x.via.<user>
// and %d.x is their sum. Per-layer gradients of a stacked value (select(%qkvw){index = l}, the
// llm.c layout) are the gradients of %qkvw.l, joined by one `stack` (a `fill` of zeros for a layer
// nobody reads). Every backward op carries the source location of the forward op it differentiates.
// What it leaves to others: dead or duplicate backward ops (simplify), the update (optimizer).
#include "passes/autodiff.h"

#include "passes/gradients.h"
#include "passes/lower_einsum.h"

#include <fmt/format.h>
#include <map>

namespace gptc {

std::string gradName(const std::string& param) {
  return "grad." + param;
}

namespace {

bool operandDifferentiable(const OpInfo& info, size_t k) {
  size_t spec = std::min(k, info.operands.size() - 1); // a variadic tail repeats the last spec
  return info.operands[spec].differentiable;
}

class Differentiator {
public:
  Differentiator(Graph& g) : g_(g) {}

  Expected<AutodiffResult> run(const AutodiffOptions& options) {
    int loss = g_.find(options.loss);
    if (loss < 0)
      return Diag{{},
                  fmt::format("autodiff: the graph has no value '{}' to differentiate (declare "
                              "`output {} = ...`)",
                              options.loss, options.loss)};
    if (g_.type(loss) != TensorType{DType::f32, {}})
      return Diag{g_.value(loss).loc, fmt::format("autodiff: the loss '{}' must be f32[], got {}",
                                                  options.loss, typeToString(g_.type(loss)))};
    size_t forwardOps = g_.nodes.size();
    analyse(loss, forwardOps);

    AutodiffResult result;
    contributions_.assign(g_.values.size(), {});
    finished_.assign(g_.values.size(), -1);
    int seed = g_.add(OpKind::Fill, {}, {{"shape", std::vector<int64_t>{}}, {"value", 1.0}},
                      g_.value(loss).loc, "d." + g_.value(loss).name); // dloss/dloss = 1
    contributions_[loss].push_back(seed);

    for (size_t n = forwardOps; n-- > 0;) {
      const Node node = g_.nodes[n];
      if (!active(node)) continue;
      int dy = finish(node.result, "d." + g_.value(node.result).name);
      const OpInfo& info = opInfo(node.kind);
      std::vector<bool> wants(node.operands.size());
      std::vector<std::string> names(node.operands.size());
      for (size_t k = 0; k < node.operands.size(); ++k) {
        int x = node.operands[k];
        wants[k] = operandDifferentiable(info, k) && needs_[x] && reaches_[x];
        names[k] = contributionName(x, node.result);
      }
      GradBuilder builder(g_, node, dy, wants, names);
      std::string err = gradRule(node.kind)(builder);
      if (!err.empty())
        return Diag{node.loc, fmt::format("cannot differentiate '%{}' ({}): {}",
                                          g_.value(node.result).name, opName(node.kind), err)};
      for (size_t k = 0; k < node.operands.size(); ++k) {
        int dx = builder.results()[k];
        if (!wants[k] || dx < 0) continue;
        if (builder.stackIndex() >= 0)
          stacked_[node.operands[k]][builder.stackIndex()].push_back(dx);
        else
          contributions_[node.operands[k]].push_back(dx);
      }
    }

    for (size_t v = 0; v < g_.values.size() && v < reaches_.size(); ++v) {
      if (g_.values[v].kind != ValueKind::Param) continue;
      if (!reaches_[v]) {
        result.unused.push_back(int(v));
        continue;
      }
      int grad = finish(int(v), gradName(g_.values[v].name));
      if (g_.value(grad).name != gradName(g_.values[v].name)) // dy passed straight through: name it
        grad = g_.add(OpKind::Reshape, {grad}, {{"shape", g_.type(v).shape}}, g_.values[v].loc,
                      gradName(g_.values[v].name));
      g_.outputs.push_back(grad);
      result.grads.push_back({int(v), grad});
    }
    result.opsAdded = int(g_.nodes.size() - forwardOps);
    return result;
  }

private:
  // needs_: depends on a param through differentiable operands; reaches_: the loss depends on it
  // through differentiable operands. users_: how many active ops take it as a differentiable
  // operand.
  void analyse(int loss, size_t forwardOps) {
    needs_.assign(g_.values.size(), false);
    reaches_.assign(g_.values.size(), false);
    users_.assign(g_.values.size(), 0);
    for (size_t v = 0; v < g_.values.size(); ++v)
      needs_[v] = g_.values[v].kind == ValueKind::Param;
    for (size_t n = 0; n < forwardOps; ++n) {
      const Node& node = g_.nodes[n];
      const OpInfo& info = opInfo(node.kind);
      for (size_t k = 0; k < node.operands.size(); ++k)
        if (operandDifferentiable(info, k) && needs_[node.operands[k]]) needs_[node.result] = true;
    }
    reaches_[loss] = true;
    for (size_t n = forwardOps; n-- > 0;) {
      const Node& node = g_.nodes[n];
      if (!active(node)) continue;
      const OpInfo& info = opInfo(node.kind);
      for (size_t k = 0; k < node.operands.size(); ++k) {
        int x = node.operands[k];
        if (!operandDifferentiable(info, k) || !needs_[x]) continue;
        reaches_[x] = true;
        users_[x]++;
      }
    }
  }

  bool active(const Node& node) const { return reaches_[node.result] && needs_[node.result]; }

  std::string contributionName(int x, int user) const {
    std::string base = g_.values[x].kind == ValueKind::Param ? gradName(g_.values[x].name)
                                                             : "d." + g_.values[x].name;
    if (users_[x] <= 1) return base;
    return fmt::format("d.{}.via.{}", g_.values[x].name, g_.values[user].name);
  }

  /// The gradient of `v`: the stack of its per-layer gradients (if it is selected from) plus every
  /// other contribution; the last op gets `name`.
  int finish(int v, const std::string& name) {
    if (finished_[v] >= 0) return finished_[v];
    std::vector<int> parts = contributions_[v];
    auto it = stacked_.find(v);
    if (it != stacked_.end()) {
      const Shape whole = g_.type(v).shape; // a copy: adding ops reallocates g_.values
      Shape layer(whole.begin() + 1, whole.end());
      std::vector<int> layers;
      for (int64_t l = 0; l < whole[0]; ++l) {
        auto found = it->second.find(l);
        if (found == it->second.end()) {
          layers.push_back(g_.add(OpKind::Fill, {}, {{"shape", layer}, {"value", 0.0}},
                                  g_.value(v).loc,
                                  fmt::format("d.{}.{}.zero", g_.value(v).name, l)));
          continue;
        }
        int sum = found->second[0];
        for (size_t i = 1; i < found->second.size(); ++i)
          sum = g_.add(OpKind::Add, {sum, found->second[i]}, {}, g_.value(v).loc,
                       fmt::format("d.{}.{}.sum", g_.value(v).name, l));
        layers.push_back(sum);
      }
      parts.insert(parts.begin(),
                   g_.add(OpKind::Stack, layers, {}, g_.value(v).loc,
                          parts.empty() ? name : "d." + g_.value(v).name + ".stacked"));
    }
    int total = parts.empty() ? -1 : parts[0];
    for (size_t i = 1; i < parts.size(); ++i)
      total = g_.add(OpKind::Add, {total, parts[i]}, {}, g_.value(v).loc,
                     i + 1 == parts.size() ? name : name + ".partial");
    finished_[v] = total;
    return total;
  }

  Graph& g_;
  std::vector<bool> needs_, reaches_;
  std::vector<int> users_;
  std::vector<std::vector<int>> contributions_;
  std::map<int, std::map<int64_t, std::vector<int>>> stacked_; // value -> layer -> gradients
  std::vector<int> finished_;
};

} // namespace

Expected<AutodiffResult> differentiate(Graph& g, const AutodiffOptions& options) {
  // einsum's gradient is its lowering's: rewrite it first (a no-op when the pipeline already did).
  if (Expected<int> lowered = lowerEinsums(g); !lowered) return lowered.error();
  return Differentiator(g).run(options);
}

Expected<bool> runAutodiffPass(PassContext& ctx) {
  Expected<AutodiffResult> r = differentiate(ctx.graph);
  if (!r) {
    const Diag& d = r.error();
    return d.loc.known() ? ctx.diagAt(d.loc, d.message) : d;
  }
  for (int p : r->unused)
    ctx.warnings.push_back(
        fmt::format("autodiff: param '{}' does not affect the loss; it gets no gradient "
                    "and the optimizer leaves it alone",
                    ctx.graph.value(p).name));
  ctx.count("autodiff.ops", r->opsAdded);
  ctx.count("autodiff.params", int64_t(r->grads.size()));
  return r->opsAdded > 0;
}

} // namespace gptc
