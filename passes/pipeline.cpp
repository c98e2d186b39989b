// The pipeline tables. Each entry says why it sits where it does, so reading this file is reading
// the compiler's strategy. A pass named here must be registered in passes.def (a test resolves
// every pipeline). What it leaves to others: the passes themselves and the manager that runs them.
#include "passes/pipeline.h"

#include <fmt/format.h>

namespace gptc {

const std::vector<Pipeline>& allPipelines() {
  static const std::vector<Pipeline> pipelines = {
      {"inference",
       "the forward step: logits and loss",
       false,
       {
           {"expand", "every later pass sees flat SSA with concrete shapes"},
           {"infer-shapes", "check the expander's types before any pass relies on them"},
           {"lower-einsum", "einsum becomes matmul and layout ops every later pass knows"},
           {"simplify", "remove no-op layout and arithmetic so CSE sees canonical operands"},
           {"cse", "merge repeated selects/sinusoidals; after simplify, more nodes look alike"},
           {"dce", "drop what simplify and CSE disconnected, before anything plans memory"},
           {"fuse-attention", "attention.fused = 1 (gptc's default; --no-fused-attention: no "
                              "change): on the clean graph, the attention chain becomes one op, "
                              "no T×T weights"},
           {"quantize", "--weights bf16|int8 (else no change): on the final graph, before fuse "
                        "joins gelu to the dequantized weight's linear"},
           {"fuse", "after the graph is final and clean; fused ops change what memory must hold"},
           {"remat",
            "--memory-budget only: probes real plans, so after every pass that changes ops"},
           {"plan-memory", "last: every pass above may add, remove or reorder values"},
           {"check-plan", "an independent proof that the plan is safe before code uses it"},
       }},
      {"decode",
       "a generation step: KV cache as state, the position as a runtime input (--set T=1: decode)",
       false,
       {
           {"expand", "every later pass sees flat SSA with concrete shapes"},
           {"infer-shapes", "check the expander's types before any pass relies on them"},
           {"lower-einsum", "einsum becomes matmul and layout ops every later pass knows"},
           {"decode-step", "on the model's own ops, before simplify can reshape the attention"},
           {"simplify", "remove no-op layout and arithmetic so CSE sees canonical operands"},
           {"cse", "merge repeated selects/sinusoidals; after simplify, more nodes look alike"},
           {"dce", "drop what simplify and CSE disconnected, before anything plans memory"},
           {"quantize", "--weights bf16|int8 (else no change): narrower weights, fewer bytes per "
                        "token; the planner counts them"},
           {"plan-memory", "last: the caches are state, updated in place"},
           {"check-plan", "an independent proof that the plan is safe before code uses it"},
       }},
      {"train",
       "the training step: forward, backward, optimizer update",
       true,
       {
           {"expand", "every later pass sees flat SSA with concrete shapes"},
           {"infer-shapes", "check the expander's types before any pass relies on them"},
           {"lower-einsum", "einsum becomes matmul and layout ops every later pass knows"},
           {"simplify", "a clean forward graph gives autodiff fewer ops to differentiate"},
           {"cse", "shared forward values get one gradient accumulation, not several"},
           {"dce", "differentiate only what reaches the loss"},
           {"fuse-attention", "attention.fused = 1 (gptc's default; --no-fused-attention: no "
                              "change): before autodiff, so attention's own gradient recomputes "
                              "the weights"},
           {"fuse-lm-head", "--fused-lm-head (else no change): before autodiff, so the head's "
                            "gradient recomputes its logits chunk by chunk; only here, as the "
                            "training step hands out no logits"},
           {"autodiff", "backward ops are ordinary ops, so the passes below clean them too"},
           {"data-parallel", "data-parallel.ranks > 1 (mpirun): the ranks' gradients summed "
                             "before the optimizer and its norm read them; 1: no change"},
           {"optimizer", "AdamW updates as graph ops, aliased onto the parameters"},
           {"simplify", "gradient rules emit scale-by-1, reshape chains, zero fills"},
           {"cse", "gradient rules recompute the same transposes and reshapes"},
           {"dce", "drop forward values only the old outputs needed"},
           {"fuse", "after autodiff and AdamW, so fused ops need no gradient rules"},
           {"remat",
            "--memory-budget: clones fused kernels; after CSE, which would merge them back"},
           {"plan-memory", "last: every pass above may add, remove or reorder values"},
           {"check-plan", "an independent proof that the plan is safe before code uses it"},
       }},
  };
  return pipelines;
}

const Pipeline* findPipeline(std::string_view name) {
  for (const Pipeline& p : allPipelines())
    if (p.name == name) return &p;
  return nullptr;
}

std::string pipelineNameList() {
  std::string out;
  for (const Pipeline& p : allPipelines())
    out += (out.empty() ? "" : ", ") + std::string(p.name);
  return out;
}

Expected<std::vector<const PassInfo*>> resolvePipeline(const Pipeline& pipeline) {
  std::vector<const PassInfo*> out;
  for (const PipelineEntry& e : pipeline.entries) {
    const PassInfo* p = findPass(e.pass);
    if (!p)
      return Diag{{},
                  fmt::format("pipeline '{}' names pass '{}', which passes.def does not register",
                              pipeline.name, e.pass)};
    out.push_back(p);
  }
  return out;
}

} // namespace gptc
