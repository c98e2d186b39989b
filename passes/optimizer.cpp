// AdamW appended as graph ops (see passes/optimizer.h for what is added and why). The op semantics
// (ir/ops.def, section "optimizer") follow torch.optim.AdamW; this file only decides which params
// are updated, which are decayed, and wires moments, scalars and clipping together.
#include "passes/optimizer.h"

#include "passes/autodiff.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>

namespace gptc {

bool decaysWeights(const Graph& g, int param) {
  bool stacked = std::any_of(g.nodes.begin(), g.nodes.end(), [&](const Node& n) {
    return n.kind == OpKind::Select && n.operands[0] == param;
  });
  return g.type(param).rank() - (stacked ? 1 : 0) >= 2;
}

namespace {

/// The runtime scalar `name`: reused when the graph already declares it as an input of that type.
Expected<int> scalarInput(Graph& g, const std::string& name, DType dtype) {
  TensorType want{dtype, {}};
  int id = g.find(name);
  if (id < 0) return g.addInput(name, want);
  if (g.value(id).kind != ValueKind::Input || g.type(id) != want)
    return Diag{g.value(id).loc,
                fmt::format("optimizer: '{}' must be `input {} : {}` (the runtime feeds it), "
                            "but the graph already has a value '{}' of type {}",
                            name, name, typeToString(want), name, typeToString(g.type(id)))};
  return id;
}

} // namespace

Expected<OptimizerResult> appendAdamW(Graph& g, const OptimizerOptions& o) {
  OptimizerResult result;
  size_t opsBefore = g.nodes.size();
  std::vector<std::pair<int, int>> paramGrads; // (param, grad)
  for (size_t v = 0; v < g.values.size(); ++v) {
    if (g.values[v].kind != ValueKind::Param) continue;
    int grad = g.find(gradName(g.values[v].name));
    if (grad >= 0) paramGrads.push_back({int(v), grad});
  }
  if (paramGrads.empty())
    return Diag{{}, "optimizer: no param has a gradient (grad.<param>); run autodiff first"};

  Expected<int> lr = scalarInput(g, "lr", DType::f32);
  if (!lr) return lr.error();
  Expected<int> step = scalarInput(g, "step", DType::i32);
  if (!step) return step.error();

  // The global norm over every gradient, before clipping (what the trainer prints).
  std::vector<int> grads;
  for (auto [p, grad] : paramGrads)
    grads.push_back(grad);
  // Located at the loss: the update belongs to the statement that defines what is minimised.
  int loss = g.find("loss");
  SourceLoc at = g.value(loss >= 0 ? loss : paramGrads[0].first).loc;
  const int64_t Z = o.zeroRanks > 1 ? o.zeroRanks : 0;
  int rank = -1;
  if (Z) {
    rank = g.find("rank");
    if (rank < 0 || g.values[rank].kind != ValueKind::Input)
      return Diag{{}, "optimizer: ZeRO needs the input `rank` (run data-parallel with zero=1)"};
    // each rank's norm of its slices, gathered: the norm of the N norms is the whole norm
    int mine = g.add(OpKind::GlobalNorm, grads, {}, at, "grad_norm.slice"); // f32[]
    int one = g.add(OpKind::Reshape, {mine}, {{"shape", std::vector<int64_t>{1}}}, at);
    int all = g.add(OpKind::AllGather, {one}, {{"ranks", Z}, {"shape", std::vector<int64_t>{Z}}},
                    at);                                                     // f32[N]
    result.gradNorm = g.add(OpKind::GlobalNorm, {all}, {}, at, "grad_norm"); // f32[]
  } else {
    result.gradNorm = g.add(OpKind::GlobalNorm, grads, {}, at, "grad_norm"); // f32[]
  }
  g.outputs.push_back(result.gradNorm);
  int scale = -1;
  if (o.clip > 0)
    scale = g.add(OpKind::ClipScale, {result.gradNorm}, {{"max_norm", o.clip}}, at,
                  "grad_clip"); // f32[] (a value may not share an op's name)

  for (auto [p, grad] : paramGrads) {
    const Value param = g.value(p);
    for (const char* prefix : {"m.", "v."})
      if (g.find(prefix + param.name) >= 0)
        return Diag{param.loc,
                    fmt::format("optimizer: the moment '{}{}' of param '{}' would clash with an "
                                "existing value",
                                prefix, param.name, param.name)};
    // ZeRO: the moments and the update cover this rank's slice of S elements only
    const int64_t n = param.type.numel(), S = Z ? (n + Z - 1) / Z : n;
    const TensorType momentType = Z ? TensorType{DType::f32, {S}} : param.type;
    if (Z && g.type(grad) != momentType)
      return Diag{param.loc, fmt::format("optimizer: ZeRO expects grad.{} as this rank's slice {}",
                                         param.name, typeToString(momentType))};
    int m = g.addState("m." + param.name, momentType, ParamInit{ParamInit::Zeros}, param.loc);
    int v = g.addState("v." + param.name, momentType, ParamInit{ParamInit::Zeros}, param.loc);
    // The moments take the clip scale as an operand and clip the gradient as they read it: no
    // separate pass that writes a clipped copy of every gradient (ir/ops.def, adamw_moment1).
    std::vector<int> mOperands{m, grad}, vOperands{v, grad};
    if (scale >= 0) mOperands.push_back(scale), vOperands.push_back(scale);
    int mNew = g.add(OpKind::AdamWMoment1, mOperands, {{"beta", o.beta1}}, param.loc,
                     "m." + param.name + ".new");
    int vNew = g.add(OpKind::AdamWMoment2, vOperands, {{"beta", o.beta2}}, param.loc,
                     "v." + param.name + ".new");
    bool decay = decaysWeights(g, p);
    Attrs attrs{{"beta1", o.beta1},
                {"beta2", o.beta2},
                {"eps", o.eps},
                {"wd", decay ? o.weightDecay : 0.0}};
    int pNew = -1;
    if (Z) {
      int flat = g.add(OpKind::Reshape, {p}, {{"shape", std::vector<int64_t>{n}}}, param.loc);
      if (S * Z != n)
        flat = g.add(OpKind::Pad, {flat},
                     {{"axis", int64_t(0)}, {"before", int64_t(0)}, {"after", S * Z - n}},
                     param.loc); // f32[N·S]
      int grid = g.add(OpKind::Reshape, {flat}, {{"shape", std::vector<int64_t>{Z, S}}}, param.loc);
      int row =
          g.add(OpKind::DynamicSlice, {grid, rank}, {{"axis", int64_t(0)}, {"size", int64_t(1)}},
                param.loc); // f32[1,S]
      int slice = g.add(OpKind::Reshape, {row}, {{"shape", std::vector<int64_t>{S}}}, param.loc,
                        param.name + ".slice");
      int sliceNew = g.add(OpKind::AdamWUpdate, {slice, mNew, vNew, *lr, *step}, attrs, param.loc,
                           param.name + ".slice.new");
      pNew = g.add(OpKind::AllGather, {sliceNew}, {{"ranks", Z}, {"shape", param.type.shape}},
                   param.loc, param.name + ".new");
    } else {
      pNew = g.add(OpKind::AdamWUpdate, {p, mNew, vNew, *lr, *step}, attrs, param.loc,
                   param.name + ".new");
    }
    g.updates.push_back({m, mNew});
    g.updates.push_back({v, vNew});
    g.updates.push_back({p, pNew});
    result.params.push_back(p);
    if (decay) result.decayed.push_back(p);
  }
  if (!o.keepForwardOutputs && loss >= 0)
    std::erase_if(g.outputs, [&](int id) { return id != loss && id != result.gradNorm; });
  if (!o.keepGradients)
    std::erase_if(g.outputs, [&](int id) {
      return std::any_of(paramGrads.begin(), paramGrads.end(),
                         [&](auto pg) { return pg.second == id; });
    });
  result.opsAdded = int(g.nodes.size() - opsBefore);
  return result;
}

std::map<std::string, std::string> optimizerPassOptions(const OptimizerOptions& o) {
  // fmt's "{}" is the shortest text that reads back to the same double.
  return {{"optimizer.beta1", fmt::format("{}", o.beta1)},
          {"optimizer.beta2", fmt::format("{}", o.beta2)},
          {"optimizer.eps", fmt::format("{}", o.eps)},
          {"optimizer.weight-decay", fmt::format("{}", o.weightDecay)},
          {"optimizer.grad-clip", fmt::format("{}", o.clip)}};
}

Expected<OptimizerOptions> optimizerOptionsFrom(const std::map<std::string, std::string>& options) {
  OptimizerOptions o;
  struct Field {
    const char* key;
    double* value;
    double lo, hi; // the accepted range: lo <= x < hi (hi = inf: no bound)
    bool loOpen;   // lo < x instead
  };
  const double inf = std::numeric_limits<double>::infinity();
  const Field fields[] = {{"optimizer.beta1", &o.beta1, 0, 1, false},
                          {"optimizer.beta2", &o.beta2, 0, 1, false},
                          {"optimizer.eps", &o.eps, 0, inf, true},
                          {"optimizer.weight-decay", &o.weightDecay, 0, inf, false},
                          {"optimizer.grad-clip", &o.clip, 0, inf, false}};
  for (const Field& f : fields) {
    auto it = options.find(f.key);
    if (it == options.end()) continue;
    const std::string& text = it->second;
    char* end = nullptr;
    double x = std::strtod(text.c_str(), &end);
    bool inRange = std::isfinite(x) && (f.loOpen ? x > f.lo : x >= f.lo) && x < f.hi;
    if (text.empty() || *end != '\0' || !inRange)
      return Diag{{},
                  fmt::format("optimizer: option {} = '{}' must be a number {} {}{}", f.key, text,
                              f.loOpen ? ">" : ">=", f.lo,
                              f.hi < inf ? fmt::format(" and < {}", f.hi) : std::string())};
    *f.value = x;
  }
  return o;
}

Expected<bool> runOptimizerPass(PassContext& ctx) {
  Expected<OptimizerOptions> options = optimizerOptionsFrom(ctx.options);
  if (!options) return options.error();
  // ZeRO-1 (passes/data_parallel.cpp checked these options when it ran)
  auto zero = ctx.options.find("data-parallel.zero"),
       ranks = ctx.options.find("data-parallel.ranks");
  if (zero != ctx.options.end() && zero->second == "1" && ranks != ctx.options.end())
    options->zeroRanks = std::atoi(ranks->second.c_str());
  Expected<OptimizerResult> r = appendAdamW(ctx.graph, *options);
  if (!r) {
    const Diag& d = r.error();
    return d.loc.known() ? ctx.diagAt(d.loc, d.message) : d;
  }
  ctx.count("optimizer.params", int64_t(r->params.size()));
  ctx.count("optimizer.decayed", int64_t(r->decayed.size()));
  ctx.count("optimizer.ops", r->opsAdded);
  return true;
}

} // namespace gptc
