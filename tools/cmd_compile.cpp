// gptc compile MODEL.graph: runs a pipeline over a model and prints what came out -- a summary
// (ops by kind, parameters, FLOPs per step, activation bytes, what simplify/cse/dce did) or, with
// --emit=graph, the final IR on stdout; --emit=llvm / llvm-unopt / asm compile the planned graph
// with the JIT (codegen/compile.h) and print its LLVM IR after / before LLVM's optimiser, or the
// machine code (docs/codegen.md says what to look for). Instrument output (--print-ir-*,
// --time-passes, warnings) goes to stderr, so `gptc compile m.graph --emit=graph > out.graph` stays
// a clean dump. What it leaves to others: flags shared with `run` (tools/options), the passes, the
// statistics (passes/stats), executing the graph (`gptc run`).
#include "passes/plan_memory.h"
#include "tools/commands.h"
#include "tools/options.h"

#include "codegen/compile.h"
#include "ir/printer.h"
#include "passes/graph_dot.h"
#include "passes/remat.h"
#include "passes/stats.h"
#include "passes/svg_memory.h"
#include "tools/dot_render.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fmt/format.h>

namespace gptc::tools {
namespace {

std::string summary(const std::string& path, const PipelineFlags& pf, const CompiledModel& m) {
  GraphStats s = computeStats(m.graph);
  std::string out;
  std::string passes;
  for (const std::string& p : m.passesRun)
    passes += (passes.empty() ? "" : " -> ") + p;
  out += fmt::format("model        {}\n", path);
  out +=
      fmt::format("pipeline     {}: {}\n", pf.pipeline, passes.empty() ? "(no pass ran)" : passes);
  out += fmt::format("parameters   {} ({}, f32)\n", groupDigits(s.paramCount),
                     humanBytes(s.paramBytes));
  if (s.stateCount)
    out +=
        fmt::format("state        {} ({})\n", groupDigits(s.stateCount), humanBytes(s.stateBytes));
  out += fmt::format("inputs       {} per step\n", humanBytes(s.inputBytes));
  out += fmt::format("FLOPs/step   {} ({:.2f} GFLOP)\n", groupDigits(s.flops), s.flops / 1e9);
  out += "             convention: matmul/linear 2*M*N*K, elementwise 1 per output element,\n"
         "             reductions/norms/softmax/loss 1 per input element, layout ops 0\n";
  out += fmt::format("activations  {} ({} bytes: every op result, before memory planning)\n",
                     humanBytes(s.activationBytes), groupDigits(s.activationBytes));
  out += fmt::format("kernels      {} ({} ops are views and run none)\n", groupDigits(s.kernels),
                     groupDigits(s.ops - s.kernels));
  out +=
      fmt::format("bytes moved  {} ({} bytes per step: Σ over kernels of operand + result bytes)\n",
                  humanBytes(s.bytesMoved), groupDigits(s.bytesMoved));

  // Ops by kind, biggest FLOP share first: where the time will go.
  std::vector<std::pair<std::string, OpKindStats>> kinds(s.byKind.begin(), s.byKind.end());
  std::stable_sort(kinds.begin(), kinds.end(), [](const auto& a, const auto& b) {
    return a.second.flops != b.second.flops ? a.second.flops > b.second.flops
                                            : a.second.count > b.second.count;
  });
  out += fmt::format("\nops          {}\n", groupDigits(s.ops));
  out += fmt::format("  {:<20} {:>7} {:>22} {:>7} {:>12}\n", "kind", "count", "FLOPs", "share",
                     "result bytes");
  for (const auto& [name, k] : kinds)
    out += fmt::format(
        "  {:<20} {:>7} {:>22} {:>6.1f}% {:>12}\n", name, k.count, groupDigits(k.flops),
        s.flops ? 100.0 * double(k.flops) / double(s.flops) : 0.0, humanBytes(k.resultBytes));

  // Counters of the rewriting passes (simplify, cse, dce, ...); the planner reports below.
  std::string rewrites;
  for (const auto& [name, n] : m.counters)
    if (n && name.rfind("plan-memory.", 0) != 0)
      rewrites += fmt::format("  {:<34} {:>7}\n", name, n);
  out += "\nrewrites" + (rewrites.empty() ? std::string("     none fired\n") : "\n" + rewrites);
  if (m.plan) {
    out += "\n" + memoryReport(m.graph, *m.plan);
    for (const std::string& why : m.plan->refusedReuse)
      out += "  refused in place: " + why + "\n";
  }
  if (m.remat) out += "\n" + rematReportText(*m.remat);
  return out;
}

} // namespace

int cmdCompile(int argc, char** argv) {
  CLI::App app{"gptc compile: run a pipeline of passes over a model and print a summary, the final "
               "IR (--emit=graph), or the IR around any pass (--print-ir-*, --ir-dump-dir)",
               "gptc compile"};
  std::string model, emit = "summary";
  ModelFlags modelFlags;
  PipelineFlags pipelineFlags;
  app.add_option("model", model, "the model file (models/*.graph or a dump)")
      ->required()
      ->type_name("MODEL.graph");
  app.add_option("--emit", emit,
                 "what to print on stdout: summary (default), graph (final IR), llvm (LLVM IR "
                 "after LLVM's optimiser), llvm-unopt (before it), asm (the machine code), dot "
                 "(Graphviz text of the final graph), svg (the same rendered by Graphviz) or "
                 "memory-svg (the memory plan as a timeline), remat-svg (with --memory-budget "
                 "sweep: planned "
                 "memory against extra FLOPs)")
      ->check(CLI::IsMember({"summary", "graph", "llvm", "llvm-unopt", "asm", "dot", "svg",
                             "memory-svg", "remat-svg"}))
      ->type_name("WHAT");
  addModelFlags(app, modelFlags);
  addPipelineFlags(app, pipelineFlags, "inference");
  bool train = false;
  app.add_flag("--train", train,
               "build the training step: forward, backward, AdamW (= --pipeline train)");
  if (int code = parseCommandLine(app, argc, argv, "compile"); code >= 0) return code;
  if (train) {
    if (app.count("--pipeline") && pipelineFlags.pipeline != "train") {
      std::fprintf(
          stderr, "gptc compile: --train: conflicts with --pipeline %s (try gptc compile --help)\n",
          pipelineFlags.pipeline.c_str());
      return 2;
    }
    pipelineFlags.pipeline = "train";
  }

  Expected<CompiledModel> compiled = compileModel(model, modelFlags, pipelineFlags, stderr);
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().render().c_str());
    return 2;
  }
  std::string out;
  if (emit == "llvm" || emit == "llvm-unopt" || emit == "asm") {
    if (!compiled->plan) {
      std::fprintf(stderr,
                   "gptc compile: --emit=%s needs a memory plan (the pipeline stopped before "
                   "plan-memory)\n",
                   emit.c_str());
      return 2;
    }
    CompileOptions o;
    o.captureIR = emit != "asm";
    o.captureAsm = emit == "asm";
    std::string err;
    std::unique_ptr<CompiledStep> step = compileStep(compiled->graph, *compiled->plan, o, &err);
    if (!step) {
      std::fprintf(stderr, "gptc compile: %s\n", err.c_str());
      return 1;
    }
    out = emit == "llvm"         ? step->irAfterOptimization()
          : emit == "llvm-unopt" ? step->irBeforeOptimization()
                                 : step->assembly();
  } else if (emit == "graph") {
    out = printGraph(compiled->graph);
  } else if (emit == "dot" || emit == "svg") {
    DotOptions dopts;
    dopts.title = fmt::format("{} ({} pipeline, {} ops)", model, pipelineFlags.pipeline,
                              compiled->graph.numOps());
    out = graphToDot(compiled->graph, dopts);
    if (emit == "svg") {
      std::string svg;
      if (std::string e = renderDot(out, &svg); !e.empty()) {
        std::fprintf(stderr, "gptc compile: %s\n", e.c_str());
        return 2;
      }
      out = std::move(svg);
    }
  } else if (emit == "memory-svg") {
    if (!compiled->plan) {
      std::fprintf(stderr, "gptc compile: --emit=memory-svg needs the plan-memory pass (it did not "
                           "run)\n");
      return 2;
    }
    out = memoryTimelineSvg(
        compiled->graph, *compiled->plan,
        fmt::format("{} — memory plan ({} pipeline)", model, pipelineFlags.pipeline));
  } else if (emit == "remat-svg") {
    if (!compiled->remat || compiled->remat->sweep.empty()) {
      std::fprintf(stderr, "gptc compile: --emit=remat-svg needs --memory-budget sweep\n");
      return 2;
    }
    out =
        rematSweepSvg(*compiled->remat, fmt::format("{} — planned memory vs recomputation", model));
  } else {
    out = summary(model, pipelineFlags, *compiled);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

} // namespace gptc::tools
