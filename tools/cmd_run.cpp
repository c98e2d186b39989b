// gptc run MODEL.graph --eval: compile a model (tools/options.h: --set/--batch/--seq, --pipeline
// and the pass-manager flags), bind its parameters (--init FILE, an llm.c or gptc checkpoint, or
// seeded init with --seed N) and one batch of inputs (--tokens FILE, else synthetic tokens from the
// seed), execute it with the JIT (--interpret: the reference interpreter) on --threads threads and
// print the loss. --profile times every kernel call (runtime/exec/kernel_profiler.h) and prints a
// table by kernel kind; --repeat N runs the step N times and reports the median.
//
// The mode is chosen by a parser that knows only the mode flags (selectMode): --eval and the
// fixed-batch mode (--train --tokens FILE) are here; --train alone is the trainer
// (tools/cmd_train.cpp) and --generate the generator (tools/cmd_generate.cpp), each with its own
// flags. Leaves to others: the kernels, the training loop, sampling.
#include "tools/commands.h"
#include "tools/generate_command.h"
#include "tools/input_checks.h"
#include "tools/options.h"
#include "tools/train_command.h"

#include "runtime/exec/executable.h"
#include "runtime/exec/kernel_profiler.h"
#include "runtime/exec/step_engine.h"
#include "runtime/formats/param_store.h"
#include "runtime/formats/quantize.h"
#include "runtime/interp/interpreter.h"
#include "runtime/text/token_data.h"
#include "runtime/train/lr_schedule.h"

#include "codegen/thread_count.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fmt/format.h>
#include <random>

namespace gptc::tools {
namespace {

struct RunFlags {
  std::string model;
  bool eval = false, train = false, generate = false;
  bool interpret = false; // --interpret: the reference interpreter instead of the JIT
  int threads = 0;        // --threads: 0 = OMP_NUM_THREADS or all cores
  bool profile = false;   // --profile: time per kernel kind (JIT only)
  int repeat = 1;         // --eval --repeat N: run the step N times, report the median
  bool noCache = false;   // --no-cache: skip the JIT's on-disk object cache
  std::string initPath;   // --init: checkpoint; empty = seeded init
  uint64_t seed = 0;      // --seed: param init, synthetic tokens, the dropout seed input
  std::string tokensPath; // --tokens: llm.c shard or raw uint16 tokens
  int steps = 10;         // --train --tokens: AdamW steps on the one batch
  OptimizerFlags opt =    // --train --tokens: --lr (constant by default), AdamW's settings
      OptimizerFlags{.lrSchedule = "constant"};
  ModelFlags model_;
  PipelineFlags pipeline;
};

/// A usage or input error: one line on stderr, exit code 2.
int usageError(const std::string& message) {
  std::fprintf(stderr, "gptc run: %s\n", message.c_str());
  return 2;
}

/// The largest id + 1 an i32 input may hold: the smallest of the embedding tables it indexes and
/// the class counts it is a target for; 0 when nothing bounds it.
int64_t idLimit(const Graph& g, int input) {
  int64_t limit = 0;
  auto tighten = [&](int64_t n) { limit = limit == 0 ? n : std::min(limit, n); };
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::Embedding && n.operands[0] == input)
      tighten(g.type(n.operands[1]).shape[0]);
    if (n.kind == OpKind::CrossEntropy && n.operands[1] == input) {
      int64_t classes = attrInt(n.attrs, "classes");
      tighten(classes ? classes : g.type(n.operands[0]).shape.back());
    }
  }
  return limit;
}

/// Tokens from a file: an llm.c shard when the magic says so, else raw little-endian uint16.
/// A file that starts with the shard magic is a shard, and its header's errors are reported (a
/// count beyond the file is "truncated", not tokens out of range read from the header's bytes).
IoResult<std::vector<uint16_t>> readTokens(const std::string& path, int32_t vocab) {
  IoResult<FileReader> f = FileReader::open(path);
  if (!f) return f.ioError();
  uint8_t magic[4] = {};
  if (f->size() >= 4 && f->readAt(0, magic, 4) && loadI32(magic) == kLlmcTokensMagic)
    return readLlmcTokens(path, vocab);
  return readRawTokens(path, vocab);
}

/// Binds every input: `seed` (i32[]) from --seed; `tokens`/`targets` from one stream, targets
/// shifted by one (file or synthetic); other i32 inputs synthetic within their id range. Returns
/// "" or a one-line reason; `how` describes where the tokens came from.
std::string bindInputs(const Graph& g, const RunFlags& f, StepEngine& interp, std::string& how) {
  int tokens = g.find("tokens"), targets = g.find("targets");
  bool lm = tokens >= 0 && targets >= 0 && g.values[tokens].kind == ValueKind::Input &&
            g.values[targets].kind == ValueKind::Input && g.type(tokens) == g.type(targets) &&
            g.type(tokens).dtype == DType::i32;
  std::mt19937_64 gen(f.seed);
  for (size_t v = 0; v < g.values.size(); ++v) {
    const Value& val = g.values[v];
    if (val.kind != ValueKind::Input) continue;
    if (val.name == "lr" || val.name == "step") continue; // optimizer scalars: fed by runTrain
    if (val.name == "seed" && val.type == TensorType{DType::i32, {}}) {
      if (std::string e = interp.bind("seed", Tensor::scalarI32(int32_t(uint32_t(f.seed))));
          !e.empty())
        return e;
      continue;
    }
    if (val.type.dtype != DType::i32)
      return fmt::format("--eval cannot feed the f32 input '{}' (it feeds token ids and a seed)",
                         val.name);
    if (lm && int(v) == targets) continue; // filled with tokens
    int64_t limit = idLimit(g, int(v));
    if (lm && int(v) == tokens) {
      int64_t limT = idLimit(g, targets);
      limit = limit == 0 ? limT : limT == 0 ? limit : std::min(limit, limT);
    }
    if (limit <= 0 || limit > 65536)
      return fmt::format("cannot tell the id range of input '{}' (no embedding or loss uses it)",
                         val.name);
    int64_t n = val.type.numel();
    std::vector<uint16_t> stream;
    if (!f.tokensPath.empty() && int(v) == tokens && lm) {
      IoResult<std::vector<uint16_t>> file = readTokens(f.tokensPath, int32_t(limit));
      if (!file) return file.error();
      if (int64_t(file->size()) < n + 1)
        return fmt::format("{}: {} tokens, but one batch needs {}", f.tokensPath, file->size(),
                           n + 1);
      stream.assign(file->begin(), file->begin() + n + 1);
      how = fmt::format("the first {} tokens of {}", n + 1, f.tokensPath);
    } else {
      std::uniform_int_distribution<int64_t> pick(0, limit - 1);
      for (int64_t k = 0; k < n + 1; ++k)
        stream.push_back(uint16_t(pick(gen)));
      if (how.empty())
        how = fmt::format("synthetic, uniform in [0, {}) from seed {}", limit, f.seed);
    }
    Tensor t(val.type);
    for (int64_t k = 0; k < n; ++k)
      t.i[k] = stream[k];
    if (std::string e = interp.bind(val.name, t); !e.empty()) return e;
    if (lm && int(v) == tokens) {
      Tensor y(g.type(targets)); // targets[b,t] = the token after tokens[b,t]
      for (int64_t k = 0; k < n; ++k)
        y.i[k] = stream[k + 1];
      if (std::string e = interp.bind("targets", y); !e.empty()) return e;
    }
  }
  return "";
}

/// The engine --interpret / --threads / --profile ask for, over the pipeline's graph and plan.
/// With --profile, the profiler is installed on it (`*profiler`).
std::unique_ptr<StepEngine> makeRunEngine(const RunFlags& f, const CompiledModel& m,
                                          std::unique_ptr<KernelProfiler>* profiler,
                                          std::string* err) {
  CompileOptions o;
  o.kernelHooks = f.profile;
  o.useCache = !f.noCache;
  std::unique_ptr<StepEngine> engine = makeEngine(f.interpret ? Engine::Interpreter : Engine::Jit,
                                                  m.graph, f.threads, o, err, m.plan.get());
  if (engine && f.profile) *profiler = std::make_unique<KernelProfiler>(*engine->executable());
  return engine;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty()      ? 0
         : v.size() % 2 ? v[v.size() / 2]
                        : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::string engineLine(const RunFlags& f, StepEngine& engine) {
  if (f.interpret) return "reference interpreter";
  return fmt::format("{}, {} thread{}", engine.describe(), f.threads, f.threads == 1 ? "" : "s");
}

int runEval(const RunFlags& f) {
  if (f.model.empty()) return usageError("--eval needs a model file (gptc run MODEL.graph --eval)");
  auto t0 = std::chrono::steady_clock::now();
  Expected<CompiledModel> compiled = compileModel(f.model, f.model_, f.pipeline, stderr);
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().render().c_str());
    return 2;
  }
  const Graph& g = compiled->graph;
  std::string err;
  std::unique_ptr<StepEngine> engine;
  std::unique_ptr<KernelProfiler> profiler; // after the engine: detaches from it first
  engine = makeRunEngine(f, *compiled, &profiler, &err);
  if (!engine) {
    std::fprintf(stderr, "gptc run: %s\n", err.c_str());
    return 1;
  }
  double setupSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string paramsFrom;
  int64_t paramCount = 0;
  for (const Value& v : g.values)
    if (v.kind == ValueKind::Param) paramCount += v.type.numel();
  if (hasQuantizedParams(g)) {
    // --weights bf16|int8: the params are read (or seeded) as the f32 model declares them, then
    // quantized (runtime/formats/quantize.h).
    PipelineFlags plain;
    plain.pipeline = f.pipeline.pipeline;
    plain.stopAfter = "infer-shapes";
    Expected<CompiledModel> f32 = compileModel(f.model, f.model_, plain, nullptr);
    if (!f32) return usageError(f32.error().render());
    ParamMap params;
    if (!f.initPath.empty()) {
      IoResult<ParamMap> loaded = loadParams(f32->graph, f.initPath, /*keepQuantized=*/true);
      if (!loaded) return usageError(loaded.error());
      params = std::move(*loaded);
    } else {
      params = initParams(f32->graph, f.seed);
    }
    ParamMap q;
    if (std::string e = quantizeParams(g, params, &q); !e.empty()) return usageError(e);
    for (const auto& [name, t] : q)
      if (std::string e = engine->bind(name, t); !e.empty()) return usageError(e);
    paramsFrom =
        fmt::format("{}, weights {}",
                    f.initPath.empty() ? fmt::format("seeded init, seed {}", f.seed) : f.initPath,
                    f.pipeline.weights);
  } else if (!f.initPath.empty()) {
    IoResult<ParamMap> loaded = loadParams(g, f.initPath);
    if (!loaded) return usageError(loaded.error());
    for (const auto& [name, t] : *loaded)
      if (std::string e = engine->bind(name, t); !e.empty()) return usageError(e);
    paramsFrom = f.initPath;
  } else {
    if (std::string e = engine->initParams(f.seed); !e.empty()) return usageError(e);
    paramsFrom = fmt::format("seeded init, seed {}", f.seed);
  }
  std::string tokensFrom;
  if (std::string e = bindInputs(g, f, *engine, tokensFrom); !e.empty()) return usageError(e);

  std::vector<double> times;
  for (int r = 0; r < f.repeat; ++r) {
    if (r == 1 && profiler) profiler->reset(); // the first run warms caches and pages
    auto start = std::chrono::steady_clock::now();
    if (std::string e = engine->run(); !e.empty()) {
      std::fprintf(stderr, "%s\n", e.c_str());
      return 1;
    }
    times.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  std::string out;
  out +=
      fmt::format("model     {} (pipeline {}, {} ops)\n", f.model, f.pipeline.pipeline, g.numOps());
  out += fmt::format("engine    {}; ready in {:.2f} s\n", engineLine(f, *engine), setupSeconds);
  out += fmt::format("params    {} from {}\n", paramCount, paramsFrom);
  if (!tokensFrom.empty()) out += fmt::format("tokens    {}\n", tokensFrom);
  for (int o : g.outputs)
    if (g.type(o) == TensorType{DType::f32, {}})
      out += fmt::format("{:<9} {:.6f}\n", g.values[o].name, engine->scalar(g.values[o].name));
  if (f.repeat > 1)
    out += fmt::format("time      {:.4f} s median of {} runs (min {:.4f} s)\n", median(times),
                       f.repeat, *std::min_element(times.begin(), times.end()));
  else
    out += fmt::format("time      {:.4f} s\n", times[0]);
  if (profiler) out += profiler->table();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

/// --train --tokens FILE: the fixed-batch mode (llm.c's test_gpt2: the training step on one batch,
/// over and over; the trainer, with --train alone, is tools/cmd_train.cpp). Compiles the train
/// pipeline (forward, backward, AdamW with the optimizer flags; passes/autodiff.h,
/// passes/optimizer.h), binds params and one batch as --eval does, runs --steps steps (JIT, or
/// --interpret) with --lr (constant unless --lr-schedule says otherwise) and prints loss, gradient
/// norm and time per step, then the median step time (the first step excluded when there are
/// more).
int runTrain(RunFlags f) {
  if (f.model.empty())
    return usageError("--train needs a model file (gptc run MODEL.graph --train)");
  if (f.steps < 1) return usageError(fmt::format("--steps must be at least 1, got {}", f.steps));
  if (std::string e = checkOptimizerFlags(f.opt); !e.empty()) return usageError(e);
  if (f.pipeline.pipeline == "inference") f.pipeline.pipeline = "train";
  f.pipeline.passOptions = optimizerPassOptions(f.opt);
  LrSchedule schedule;
  LrSchedule::kindFromName(f.opt.lrSchedule, &schedule.kind); // checked above
  schedule.maxLr = f.opt.lr;
  schedule.minLr = f.opt.lr * f.opt.minLrFraction;
  schedule.warmupSteps = f.opt.warmup;
  schedule.totalSteps = f.steps;
  auto t0 = std::chrono::steady_clock::now();
  Expected<CompiledModel> compiled = compileModel(f.model, f.model_, f.pipeline, stderr);
  if (!compiled) {
    std::fprintf(stderr, "%s\n", compiled.error().render().c_str());
    return 2;
  }
  const Graph& g = compiled->graph;
  if (g.find("lr") < 0 || g.find("step") < 0 || g.find("loss") < 0)
    return usageError(fmt::format("pipeline '{}' did not build a training step (no lr/step inputs "
                                  "or loss); use --pipeline train",
                                  f.pipeline.pipeline));
  std::string err;
  std::unique_ptr<StepEngine> engine;
  std::unique_ptr<KernelProfiler> profiler; // after the engine: detaches from it first
  engine = makeRunEngine(f, *compiled, &profiler, &err);
  if (!engine) {
    std::fprintf(stderr, "gptc run: %s\n", err.c_str());
    return 1;
  }
  double setupSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!f.initPath.empty()) {
    IoResult<ParamMap> loaded = loadParams(g, f.initPath);
    if (!loaded) return usageError(loaded.error());
    for (const auto& [name, t] : *loaded)
      if (std::string e = engine->bind(name, t); !e.empty()) return usageError(e);
  } else if (std::string e = engine->initParams(f.seed); !e.empty()) {
    return usageError(e);
  }
  double initSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - setupSeconds;
  std::string tokensFrom;
  if (std::string e = bindInputs(g, f, *engine, tokensFrom); !e.empty()) return usageError(e);

  std::printf("model     %s (pipeline %s, %d ops)\n", f.model.c_str(), f.pipeline.pipeline.c_str(),
              g.numOps());
  std::printf("engine    %s; ready in %.2f s, params in %.2f s\n", engineLine(f, *engine).c_str(),
              setupSeconds, initSeconds);
  if (!tokensFrom.empty())
    std::printf("tokens    %s (the same batch every step)\n", tokensFrom.c_str());
  std::printf("optimizer %s\n", describeOptimizer(f.opt).c_str());
  std::vector<double> times;
  for (int s = 1; s <= f.steps; ++s) {
    if (std::string e = engine->bind("step", Tensor::scalarI32(s)); !e.empty())
      return usageError(e);
    float lr = float(schedule.lrAt(s - 1));
    if (std::string e = engine->bind("lr", Tensor::scalarF32(lr)); !e.empty()) return usageError(e);
    if (s == 2 && profiler) profiler->reset(); // the first step warms caches and pages
    auto start = std::chrono::steady_clock::now();
    if (std::string e = engine->run(); !e.empty()) {
      std::fprintf(stderr, "%s\n", e.c_str());
      return 1;
    }
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (s > 1 || f.steps == 1) times.push_back(ms);
    float norm = g.find("grad_norm") >= 0 ? engine->scalar("grad_norm") : 0.0f;
    std::printf("step %4d  loss %.6f  grad_norm %.4f  %.1f ms\n", s, engine->scalar("loss"), norm,
                ms);
    std::fflush(stdout);
  }
  std::printf("median    %.1f ms per step%s\n", median(times),
              f.steps > 1 ? " (first step excluded)" : "");
  if (profiler) std::fputs(profiler->table().c_str(), stdout);
  return 0;
}

/// What `gptc run` is asked to do: found by a parser that knows only the mode flags and lets the
/// mode's own parser read everything else.
enum class Mode { None, Eval, FixedBatch, Trainer, Generate };

/// The mode, or a usage error in *error. --help alone (no mode) is Mode::None with *help set.
Mode selectMode(int argc, char** argv, bool* help, std::string* error) {
  CLI::App sel{"gptc run", "gptc run"};
  sel.allow_extras();
  sel.set_help_flag();
  bool eval = false, train = false, generate = false;
  std::string tokens;
  sel.add_flag("--eval", eval);
  sel.add_flag("--train", train);
  sel.add_flag("--generate", generate);
  sel.add_option("--tokens", tokens)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sel.add_flag("-h,--help", *help);
  try {
    sel.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    *error = e.what();
    return Mode::None;
  }
  if (int(eval) + int(train) + int(generate) > 1) {
    *error = "--eval, --train and --generate are different modes; give one";
    return Mode::None;
  }
  if (generate) return Mode::Generate;
  if (train) return tokens.empty() ? Mode::Trainer : Mode::FixedBatch;
  if (eval) return Mode::Eval;
  return Mode::None;
}

const char* kRunOverview = R"(gptc run: execute a model. Give one mode:

  gptc run MODEL.graph --eval [flags]
      one forward step on one batch (--tokens FILE, else synthetic tokens): prints the loss
      (JIT; --interpret: the reference interpreter). Flags: gptc run --eval --help
  gptc run [MODEL.graph] --train [flags]
      the trainer: a language model on a text file or llm.c token shards, or the seq2seq sorter;
      checkpoints, validation, main.log, a sample. With no model: the character-level Shakespeare
      GPT (models/chargpt.graph) on data/tinyshakespeare.txt. Flags: gptc run --train --help
  gptc run MODEL.graph --train --tokens FILE --steps N [flags]
      the fixed-batch mode (llm.c's test_gpt2): N training steps on the first batch of FILE,
      loss, gradient norm and time per step. Flags: gptc run --train --tokens F --help
  gptc run [MODEL.graph] --generate [flags]
      text from a checkpoint with the KV-cache decode step (seq2seq: --src, --beam).
      Flags: gptc run --generate --help
)";

/// --eval and the fixed-batch mode: one parser each, sharing the flags that mean the same thing.
int runStep(int argc, char** argv, Mode mode) {
  const bool fixed = mode == Mode::FixedBatch;
  CLI::App app{fixed ? "gptc run MODEL.graph --train --tokens FILE: the fixed-batch mode (llm.c's "
                       "test_gpt2): compile the training step (forward, backward, AdamW), run "
                       "--steps steps on the first batch of FILE and print loss, gradient norm and "
                       "time per step (JIT; --interpret: the reference interpreter)"
                     : "gptc run MODEL.graph --eval: one forward step on one batch (JIT; "
                       "--interpret: the reference interpreter); prints the loss",
               fixed ? "gptc run --train --tokens" : "gptc run --eval"};
  RunFlags f;
  app.add_option("model", f.model, "the model file (models/*.graph)")->type_name("MODEL.graph");
  if (fixed) {
    app.add_flag("--train", f.train, "training steps (this mode, with --tokens)");
    app.add_option("--tokens", f.tokensPath,
                   "the batch: the first B*T+1 tokens of this uint16 token file or llm.c shard")
        ->type_name("FILE")
        ->required();
    app.add_option("-x,--steps", f.steps, "number of steps (default 10)")->type_name("N");
    addOptimizerFlags(app, f.opt);
  } else {
    app.add_flag("--eval", f.eval, "one forward step on one batch (this mode)");
    app.add_option("--tokens", f.tokensPath,
                   "a uint16 token file or llm.c shard (default: synthetic tokens from --seed)")
        ->type_name("FILE");
    app.add_option("--repeat", f.repeat, "run the step N times, report the median")->type_name("N");
  }
  app.add_flag("--interpret", f.interpret,
               "execute with the reference interpreter (default: the JIT)");
  app.add_option("--threads", f.threads,
                 "threads (default: OMP_NUM_THREADS, else the CPUs this process may use)")
      ->type_name("N");
  app.add_flag("--profile", f.profile,
               "time every kernel call; print a table by kernel kind (JIT only)");
  app.add_flag("--no-cache", f.noCache, "do not use the JIT's on-disk object cache");
  auto* init =
      app.add_option("--init", f.initPath,
                     "parameters from a checkpoint (llm.c gpt2_*.bin or a gptc checkpoint)")
          ->type_name("FILE");
  app.add_option("--seed", f.seed, "seed for parameter init, synthetic tokens and dropout")
      ->type_name("N")
      ->excludes(init);
  addModelFlags(app, f.model_);
  addPipelineFlags(app, f.pipeline, fixed ? "train" : "inference");
  app.add_option("--weights", f.pipeline.weights,
                 "--eval: weights f32 | bf16 | int8 (quantized at load; default f32)")
      ->check(CLI::IsMember({"f32", "bf16", "int8", "int8-row"}));
  if (int code = parseCommandLine(app, argc, argv, fixed ? "run --train --tokens" : "run --eval");
      code >= 0)
    return code;
  if (std::string e = checkThreadsFlag(f.threads); !e.empty()) return usageError(e);
  if (f.threads == 0) f.threads = defaultThreadCount();
  if (f.repeat < 1) return usageError(fmt::format("--repeat must be at least 1, got {}", f.repeat));
  if (f.profile && f.interpret) return usageError("--profile times JIT kernels; drop --interpret");
  return fixed ? runTrain(f) : runEval(f);
}

} // namespace

int cmdRun(int argc, char** argv) {
  // The mode decides which parser reads the rest: the trainer (tools/cmd_train.cpp) and the
  // generator (tools/cmd_generate.cpp) own their flags; --eval and the fixed-batch mode are here.
  bool help = false;
  std::string error;
  switch (selectMode(argc, argv, &help, &error)) {
  case Mode::Trainer:
    return cmdTrain(argc, argv);
  case Mode::Generate:
    return cmdGenerate(argc, argv);
  case Mode::Eval:
    return runStep(argc, argv, Mode::Eval);
  case Mode::FixedBatch:
    return runStep(argc, argv, Mode::FixedBatch);
  case Mode::None:
    break;
  }
  if (!error.empty()) return usageError(error + " (try gptc run --help)");
  if (help) {
    std::fputs(kRunOverview, stdout);
    return 0;
  }
  return usageError("say what to run: --eval, --train or --generate (try gptc run --help)");
}

} // namespace gptc::tools
