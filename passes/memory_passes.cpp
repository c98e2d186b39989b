// plan-memory and check-plan as passes. plan-memory runs the planner (plan_memory.h), then puts the
// graph's ops in the planned execution order, so a dump after it lists ops in the order they run,
// each value annotated with its region, offset, size and live range; check-plan runs the
// independent checker (plan_checker.cpp) and fails the pipeline on an unsafe plan.
// What they leave to others: the planning itself (plan_memory.cpp) and its consumers (codegen).
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "passes/plan_memory.h"

namespace gptc {

std::string printContext(const PassContext& ctx) {
  if (!ctx.plan || ctx.plan->placement.size() != ctx.graph.values.size())
    return printGraph(ctx.graph);
  PrintOptions opts;
  const MemoryPlan& plan = *ctx.plan;
  opts.annotate = [&plan](int v) { return placementText(plan, v); };
  return printGraph(ctx.graph, opts);
}

Expected<bool> runPlanMemory(PassContext& ctx) {
  PlanOptions opts;
  opts.explain = ctx.explainMemory;
  MemoryPlan plan = ctx.noMemoryPlan ? naivePlan(ctx.graph) : planMemory(ctx.graph, opts);
  // Reorder the ops to the schedule: value ids do not change, only the order of `nodes`.
  Graph& g = ctx.graph;
  bool reordered = false;
  std::vector<Node> ordered;
  ordered.reserve(g.nodes.size());
  for (size_t i = 0; i < plan.schedule.size(); ++i) {
    reordered |= plan.schedule[i] != int(i);
    ordered.push_back(g.nodes[plan.schedule[i]]);
  }
  g.nodes = std::move(ordered);
  g.reindex();
  for (size_t i = 0; i < plan.schedule.size(); ++i)
    plan.schedule[i] = int(i);
  plan.budget = ctx.memoryBudget;
  ctx.count("plan-memory.arena-bytes", plan.arenaBytes);
  ctx.count("plan-memory.lower-bound-bytes", plan.lowerBound);
  ctx.count("plan-memory.naive-bytes", plan.naiveBytes);
  ctx.plan = std::make_shared<MemoryPlan>(std::move(plan));
  return reordered;
}

Expected<bool> runCheckPlan(PassContext& ctx) {
  if (!ctx.plan) return Diag{{}, "check-plan: no memory plan (plan-memory did not run)"};
  std::string problem = checkPlan(ctx.graph, *ctx.plan);
  if (!problem.empty()) return Diag{{}, "unsafe memory plan: " + problem};
  return false;
}

} // namespace gptc
