// tools/cmd_train.cpp — `gptc run --train`: trains a character-level GPT on a text file with the
// JIT (or the interpreter with --interpret). With no other argument: models/chargpt.graph on
// data/tinyshakespeare.txt at a CPU-sized configuration (kDefaultSets), the last 10% held out.
//
// It compiles three graphs from one model: the training step (train pipeline, dropout on), the
// evaluation step (inference pipeline, --set drop=0, same B and T) for the validation loss, and a
// B=1 inference step for sampling; the last two receive the trained parameters by name. Output:
// a progress line per step, out/<run>/main.log (llm.c's format), out/<run>/loss.svg, the
// vocabulary and a checkpoint of params and AdamW state, then a sample of text.
//
// What it leaves to others: the loop (runtime/trainer.h), the schedule, sampling, the files
// (runtime/progress.h, llmc_checkpoint.h); resuming from the checkpoint is a later slice.
#include "tools/train_command.h"

#include "tools/input_checks.h"
#include "tools/options.h"
#include "tools/trace_flags.h"

#include "passes/plan_memory.h"
#include "runtime/batch_source.h"
#include "runtime/bpe_tokenizer.h"
#include "runtime/char_tokenizer.h"
#include "runtime/param_store.h"
#include "runtime/run_lock.h"
#include "runtime/safetensors.h"
#include "runtime/sampling.h"
#include "runtime/train_checkpoint.h"
#include "runtime/trainer.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <map>
#include <omp.h>
#include <unistd.h>

namespace gptc::tools {
namespace {

/// The CPU-sized default for chargpt.graph: learns Shakespeare's letters in minutes on 2 cores.
/// The model's own constants (L=6, C=256, NH=8, T=256) are the full config: `--set L=6 C=256 NH=8
/// T=256 B=16` (docs/training.md).
const std::vector<std::string> kDefaultSets = {"L=4", "C=128", "NH=4"};
constexpr int64_t kDefaultB = 32, kDefaultT = 64;

struct TrainFlags {
  std::string model = kDefaultModel;
  std::string positionalModel;
  std::string data = "data/tinyshakespeare.txt";
  int64_t steps = 2000;
  int64_t batch = 0, seq = 0; // 0 = the default config's (or, with another model, the model's)
  double lr = 1e-3, minLrFraction = 0.1;
  int64_t warmup = 100;
  int64_t valEvery = 100;
  int valBatches = 8;
  std::string out; // default out/<model name>
  uint64_t seed = 1337;
  std::vector<std::string> sets;
  int threads = 0;
  bool interpret = false;
  int sampleChars = 400;
  double temperature = 0.8;
  int topK = 0;
  bool train = false;
  TraceFlags trace;              // --trace and friends (runtime/trace_session.h)
  int64_t checkpointEvery = 500; // 0 = only at the end (and on Ctrl-C)
  int keep = 3;
  std::string init;                                        // weights to start from
  std::string tokenizer = "tests/fixtures/gpt2_tokenizer"; // decodes samples of *.bin data
  std::string resume;          // a step folder or a run folder; "-" = --out's latest
  bool tokenizerGiven = false; // a --tokenizer that does not load is an error, the default is not
};

volatile std::sig_atomic_t gInterrupted = 0;

extern "C" void onInterrupt(int) {
  gInterrupted = 1; // SA_RESETHAND: a second Ctrl-C kills at once (checkpoints stay whole)
}

/// Ctrl-C and SIGTERM ask the loop to save a checkpoint and stop after the current step.
void installInterruptHandlers() {
  struct sigaction sa {};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// The settings a run's batches, dropout masks and schedule depend on: saved in every checkpoint
/// and compared on --resume, because any difference breaks the bit-exact continuation.
std::map<std::string, std::string> runInfo(const TrainFlags& f, const std::string& config,
                                           int64_t B, int64_t T, int64_t dataTokens) {
  return {{"model", f.model},
          {"sets", config},
          {"B", fmt::format("{}", B)},
          {"T", fmt::format("{}", T)},
          {"seed", fmt::format("{}", f.seed)},
          {"steps", fmt::format("{}", f.steps)},
          {"lr", fmt::format("{}", f.lr)},
          {"min_lr_fraction", fmt::format("{}", f.minLrFraction)},
          {"warmup", fmt::format("{}", f.warmup)},
          {"data_tokens", fmt::format("{}", dataTokens)}};
}

/// The flag a run-info key comes from, for the resume error.
std::string flagOf(const std::string& key) {
  static const std::map<std::string, std::string> flags = {
      {"model", "--model"},     {"sets", "--set"},      {"B", "--batch"},
      {"T", "--seq"},           {"seed", "--seed"},     {"steps", "--steps"},
      {"lr", "--lr"},           {"warmup", "--warmup"}, {"min_lr_fraction", "--min-lr-fraction"},
      {"data_tokens", "--data"}};
  auto it = flags.find(key);
  return it == flags.end() ? key : it->second;
}

int usageError(const std::string& message) {
  std::fprintf(stderr, "gptc run --train: %s\n", message.c_str());
  return 2;
}

/// A run failure after the arguments were accepted: one line, exit 1.
int runError(const std::string& message) {
  std::fprintf(stderr, "gptc run --train: %s\n", message.c_str());
  return 1;
}

bool hasConst(const ast::Program& p, const std::string& name) {
  return std::any_of(p.consts.begin(), p.consts.end(),
                     [&](const ast::ConstDecl& c) { return c.name == name; });
}

/// Compiles `model` with `sets` through `pipeline`; prints the Diag and returns nullopt on error.
std::optional<CompiledModel> compile(const TrainFlags& f, const std::vector<std::string>& sets,
                                     int64_t B, int64_t T, const char* pipeline) {
  ModelFlags mf;
  mf.sets = sets;
  mf.batch = B;
  mf.seq = T;
  PipelineFlags pf;
  pf.pipeline = pipeline;
  // A trace observes attention's scores and masked scores, which fusion keeps in registers.
  if (f.trace.trace) pf.disablePasses = {"fuse"};
  Expected<CompiledModel> c = compileModel(f.model, mf, pf, stderr);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().render().c_str());
    return std::nullopt;
  }
  return std::move(*c);
}

std::string jsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", int(c));
      continue;
    }
    out += c;
  }
  return out;
}

/// Binds weights from `path` into the training step: a Hugging Face GPT-2 `*.safetensors` (GPT-2
/// models only; Conv1D weights transposed, wte padded) or an llm.c / gptc checkpoint (any model;
/// every param must be present with the model's shape). "" or "path: why".
std::string loadInitialParams(const std::string& path, StepEngine& engine,
                              const std::optional<Gpt2Config>& gpt2) {
  const Graph& g = engine.graph();
  std::vector<std::pair<std::string, Tensor>> tensors;
  if (path.size() > 12 && path.rfind(".safetensors") == path.size() - 12) {
    if (!gpt2) return path + ": safetensors import is for GPT-2 models (models/gpt2.graph) only";
    IoResult<Gpt2Weights> w = loadHuggingFaceGpt2(path, gpt2->NH, gpt2->Vp);
    if (!w) return w.error();
    if (IoStatus st = checkConfigMatches(path, w->config, *gpt2); !st) return st.error();
    for (NamedTensor& t : w->tensors) {
      Tensor x(g.type(g.find(t.name)));
      x.f = std::move(t.data);
      tensors.emplace_back(t.name, std::move(x));
    }
  } else {
    IoResult<ParamMap> params = loadParams(g, path);
    if (!params) return params.error();
    for (auto& [name, t] : *params)
      if (g.values[g.find(name)].kind == ValueKind::Param) tensors.emplace_back(name, std::move(t));
  }
  for (auto& [name, t] : tensors)
    if (std::string e = engine.bind(name, t); !e.empty()) return path + ": " + e;
  return "";
}

/// The longest digit sequence the sorting task draws for this graph: min(S - 1, T - 2).
int64_t sortMaxLen(const Graph& g) {
  return std::min(g.type(g.find("src")).shape[1] - 1, g.type(g.find("tgt_in")).shape[1] - 2);
}

/// After a seq2seq run: accuracy on the held-out validation batches, teacher-forced (each position
/// predicted from the true prefix) and greedy (the decoder fed its own argmax, as a generator
/// would run it: an exact sort of every digit and the EOS).
int reportSorting(const Trainer& trainer, StepEngine& eval) {
  const BatchSource* val = trainer.valData();
  SortAccuracy forced, greedy;
  for (int k = 0; k < trainer.options().valBatches; ++k) {
    NamedInputs in = val->batch(uint64_t(k)); // src, tgt_in, tgt_out
    for (auto& [name, t] : in)
      if (std::string e = eval.bind(name, t); !e.empty()) return runError(e);
    if (std::string e = eval.run(); !e.empty()) return runError(e);
    Tensor logits; // (B,T,V)
    if (std::string e = eval.read("logits", &logits); !e.empty()) return runError(e);
    forced.add(logits, in[2].second);
    // Greedy: position t of tgt_in is the argmax at t-1; causal masking makes the later
    // positions' values irrelevant to position t, so T runs decode the whole batch.
    Tensor tgtIn = in[1].second;
    const int64_t B = tgtIn.type.shape[0], T = tgtIn.type.shape[1];
    const int64_t V = logits.type.shape.back();
    std::fill(tgtIn.i.begin(), tgtIn.i.end(), kSortEos); // not PAD: keep every key unmasked
    for (int64_t b = 0; b < B; ++b)
      tgtIn.i[size_t(b * T)] = kSortBos;
    for (int64_t t = 0; t + 1 < T; ++t) {
      if (std::string e = eval.bind("tgt_in", tgtIn); !e.empty()) return runError(e);
      if (std::string e = eval.run(); !e.empty()) return runError(e);
      if (std::string e = eval.read("logits", &logits); !e.empty()) return runError(e);
      for (int64_t b = 0; b < B; ++b) {
        const float* row = &logits.f[size_t((b * T + t) * V)];
        tgtIn.i[size_t(b * T + t + 1)] = int32_t(std::max_element(row, row + V) - row);
      }
    }
    if (std::string e = eval.bind("tgt_in", tgtIn); !e.empty()) return runError(e);
    if (std::string e = eval.run(); !e.empty()) return runError(e);
    if (std::string e = eval.read("logits", &logits); !e.empty()) return runError(e);
    greedy.add(logits, in[2].second);
  }
  std::printf("sorting held-out accuracy over %lld sequences: teacher-forced %.2f%% of tokens, "
              "%.2f%% of sequences; greedy decoding %.2f%% of sequences exactly sorted\n",
              static_cast<long long>(forced.sequenceCount), 100 * forced.tokens(),
              100 * forced.sequences(), 100 * greedy.sequences());
  return 0;
}

int train(TrainFlags f) {
  if (!f.positionalModel.empty()) f.model = f.positionalModel;
  // Values first: one line each, before anything slow happens.
  if (f.steps < 1) return usageError(fmt::format("--steps must be at least 1, got {}", f.steps));
  if (f.batch < 0 || f.seq < 0)
    return usageError("--batch and --seq must be positive (0 = the default)");
  if (!(f.lr > 0) || !std::isfinite(f.lr))
    return usageError(fmt::format("--lr must be a positive number, got {}", f.lr));
  if (!(f.minLrFraction >= 0 && f.minLrFraction <= 1))
    return usageError(fmt::format("--min-lr-fraction must be in [0, 1], got {}", f.minLrFraction));
  if (f.warmup < 0) return usageError(fmt::format("--warmup must be >= 0, got {}", f.warmup));
  if (f.valEvery < 0)
    return usageError(fmt::format("--val-every must be >= 0, got {}", f.valEvery));
  if (f.valBatches < 1)
    return usageError(fmt::format("--val-batches must be at least 1, got {}", f.valBatches));
  if (f.threads < 0) return usageError(fmt::format("--threads must be >= 0, got {}", f.threads));
  if (f.sampleChars < 0)
    return usageError(fmt::format("--sample must be >= 0, got {}", f.sampleChars));
  if (!(f.temperature >= 0) || !std::isfinite(f.temperature))
    return usageError(fmt::format("--temperature must be >= 0, got {}", f.temperature));
  if (f.topK < 0) return usageError(fmt::format("--top-k must be >= 0, got {}", f.topK));
  if (f.checkpointEvery < 0)
    return usageError(fmt::format("--checkpoint-every must be >= 0, got {}", f.checkpointEvery));
  if (f.keep < 1) return usageError(fmt::format("--keep must be at least 1, got {}", f.keep));
  if (f.out.empty()) f.out = defaultRunDir(f.model);

  // The default configuration applies to the default model only; user --set values come after
  // it, so they win.
  bool defaultModel = f.model == kDefaultModel;
  std::vector<std::string> sets = defaultModel ? kDefaultSets : std::vector<std::string>{};
  sets.insert(sets.end(), f.sets.begin(), f.sets.end());
  int64_t B = f.batch ? f.batch : defaultModel ? kDefaultB : 0;
  int64_t T = f.seq ? f.seq : defaultModel ? kDefaultT : 0;
  // --set B=/T= given explicitly beats the default shorthand.
  for (const std::string& s : f.sets) {
    if (s.rfind("B=", 0) == 0 && !f.batch) B = 0;
    if (s.rfind("T=", 0) == 0 && !f.seq) T = 0;
  }

  auto start = std::chrono::steady_clock::now();
  std::optional<CompiledModel> trainModel = compile(f, sets, B, T, "train");
  if (!trainModel) return 2;
  // The seq2seq model learns the digit-sorting task, generated on the fly: no data file.
  const bool sortTask = isSortModel(trainModel->graph);
  std::vector<std::string> evalSets = sets;
  if (hasConst(*trainModel->program, "drop")) evalSets.push_back("drop=0");
  std::optional<CompiledModel> evalModel = compile(f, evalSets, B, T, "inference");
  if (!evalModel) return 2;
  std::optional<CompiledModel> sampleModel;
  if (!sortTask) {
    sampleModel = compile(f, evalSets, 1, T, "inference");
    if (!sampleModel) return 2;
  }

  // Data: an llm.c token shard (`*.bin`, e.g. from `gptc tokenize`: GPT-2 BPE ids), or a text
  // file whose distinct bytes are the vocabulary, as the char-GPT does.
  CharTokenizer tok = CharTokenizer::fromText("");
  std::optional<BpeTokenizer> bpe;
  std::optional<TokenSplit> split;
  const bool shards = f.data.size() > 4 && f.data.rfind(".bin") == f.data.size() - 4;
  if (!sortTask) {
    int logits = sampleModel->graph.find("logits");
    if (logits < 0)
      return usageError(f.model + ": the model has no `logits` output to sample from");
    int64_t V = sampleModel->graph.type(logits).shape.back();
    if (IoResult<Gpt2Config> c = gpt2ConfigOf(sampleModel->graph); c) V = c->V;
    if (shards) {
      IoResult<std::vector<uint16_t>> train = readLlmcTokens(f.data, int32_t(V));
      if (!train) return usageError(train.error());
      // X_train.bin's validation is X_val.bin when it exists, else its own last 10%.
      std::string valPath;
      if (f.data.size() > 10 && f.data.rfind("_train.bin") == f.data.size() - 10)
        valPath = f.data.substr(0, f.data.size() - 10) + "_val.bin";
      if (!valPath.empty() && std::filesystem::exists(valPath)) {
        IoResult<std::vector<uint16_t>> val = readLlmcTokens(valPath, int32_t(V));
        if (!val) return usageError(val.error());
        split = TokenSplit{std::move(*train), std::move(*val)};
      } else {
        IoResult<TokenSplit> s = splitTrainVal(*train, 0.1);
        if (!s) return usageError(s.error());
        split = std::move(*s);
      }
      IoResult<BpeTokenizer> b = BpeTokenizer::loadDir(f.tokenizer);
      if (b && b->vocabSize() <= V)
        bpe = std::move(*b); // for the sample's text; without it the sample is skipped
      else if (f.tokenizerGiven)
        return usageError("--tokenizer " +
                          (b ? fmt::format("{}: {} tokens, more than the model's vocabulary {}",
                                           f.tokenizer, b->vocabSize(), V)
                             : b.error()));
    } else {
      IoResult<std::string> text = readFileText(f.data);
      if (!text) return usageError(text.error());
      tok = CharTokenizer::fromText(*text);
      IoResult<std::vector<int32_t>> ids = tok.encode(*text);
      if (!ids) return usageError(ids.error());
      IoResult<std::vector<uint16_t>> narrow = narrowTokens(*ids);
      if (!narrow) return usageError(narrow.error());
      IoResult<TokenSplit> s = splitTrainVal(*narrow, 0.1);
      if (!s) return usageError(s.error());
      split = std::move(*s);
      // The model's vocabulary must hold the text's symbols.
      if (tok.vocabSize() > V)
        return usageError(fmt::format("{} has {} distinct characters but the model's vocabulary "
                                      "is {} (--set V={})",
                                      f.data, tok.vocabSize(), V, tok.vocabSize()));
    }
  }

  Engine engine = f.interpret ? Engine::Interpreter : Engine::Jit;
  int threads = f.threads > 0 ? f.threads : omp_get_max_threads();
  std::string err;
  // --trace, --check-finite (tools/trace_flags.h): the plan keeps traced values readable, the
  // step calls the NaN/Inf checker after every kernel.
  std::unique_ptr<StepEngine> trainEngine; // declared first: the hooks detach from it first
  StudyHooks study;
  auto text = [&tok](int32_t id) {
    return id >= 0 && id < tok.vocabSize() ? std::string(1, char(tok.symbols()[id])) : "?";
  };
  if (std::string e = study.prepare(f.trace, trainModel->graph, f.out, text, !f.interpret);
      !e.empty())
    return usageError(e);
  trainEngine = makeEngine(engine, std::move(trainModel->graph), threads, study.compileOptions(),
                           &err, study.plan());
  if (!trainEngine) return runError("compiling the training step: " + err);
  if (std::string e = study.attach(*trainEngine); !e.empty()) return runError(e);
  std::unique_ptr<StepEngine> evalEngine =
      makeEngine(engine, std::move(evalModel->graph), threads, {}, &err);
  if (!evalEngine) return runError("compiling the evaluation step: " + err);
  std::unique_ptr<StepEngine> sampleEngine;
  if (sampleModel) {
    sampleEngine = makeEngine(engine, std::move(sampleModel->graph), threads, {}, &err);
    if (!sampleEngine) return runError("compiling the sampling step: " + err);
  }
  double compileSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  TrainOptions opts;
  opts.steps = f.steps;
  opts.schedule.maxLr = f.lr;
  opts.schedule.minLr = f.lr * f.minLrFraction;
  opts.schedule.warmupSteps = f.warmup;
  opts.valEvery = f.valEvery;
  opts.valBatches = f.valBatches;
  opts.seed = f.seed;
  int64_t trainTokens = split ? int64_t(split->train.size()) : 0;
  int64_t valTokens = split ? int64_t(split->val.size()) : 0;
  std::unique_ptr<Trainer> trainer;
  if (sortTask) {
    // Training batches from the run's seed; the held-out validation set is batches
    // 0..val-batches-1 of a second stream, the same for every run of that seed.
    std::unique_ptr<BatchSource> trainData = makeSortSourceFor(trainEngine->graph(), f.seed, &err);
    if (!trainData) return usageError(err);
    std::unique_ptr<BatchSource> valData =
        makeSortSourceFor(evalEngine->graph(), f.seed ^ 0x76616c6964ULL, &err);
    if (!valData) return usageError(err);
    trainer = Trainer::create(*trainEngine, evalEngine.get(), std::move(trainData),
                              std::move(valData), opts, &err);
  } else {
    trainer = Trainer::create(*trainEngine, evalEngine.get(), std::move(*split), opts, &err);
  }
  if (!trainer) return usageError(err);
  if (std::string e = trainer->initParams(); !e.empty()) return runError(e);

  int64_t paramCount = 0;
  for (const Value& v : trainEngine->graph().values)
    if (v.kind == ValueKind::Param) paramCount += v.type.numel();
  std::string config;
  for (const std::string& s : sets)
    config += s + " ";
  const Graph& tg = trainEngine->graph();
  const TensorType& tokensType = tg.type(tg.find(sortTask ? "tgt_in" : "tokens"));
  const int64_t runB = tokensType.shape[0], runT = tokensType.shape[1]; // (B,T)
  const std::map<std::string, std::string> info =
      runInfo(f, config, runB, runT, trainTokens + valTokens);
  // GPT-2 models' parameters are saved in llm.c's format, the others in gptc's.
  std::optional<Gpt2Config> gpt2;
  if (IoResult<Gpt2Config> c = gpt2ConfigOf(tg); c) {
    bool llmcNames = true; // chargpt is GPT-2 shaped but names its tensors its own way
    for (const LlmcTensorSpec& spec : llmcTensorSpecs(*c)) {
      int v = tg.find(spec.name);
      llmcNames &=
          v >= 0 && tg.values[v].kind == ValueKind::Param && tg.type(v).shape == spec.shape;
    }
    if (llmcNames) gpt2 = *c;
  }
  const std::string ckptRoot = f.out + "/checkpoints";

  // One trainer per run folder (runtime/run_lock.h), taken before anything in it is read or
  // written; released when this process ends, however it ends.
  std::error_code lockEc;
  std::filesystem::create_directories(f.out, lockEc);
  if (lockEc) return usageError(fmt::format("--out {}: {}", f.out, lockEc.message()));
  IoResult<RunLock> runLock = RunLock::acquire(f.out);
  if (!runLock) return usageError(runLock.error());

  // --init: start from given weights (the AdamW moments stay zero).
  if (!f.init.empty()) {
    if (!f.resume.empty()) return usageError("--init and --resume exclude each other");
    if (std::string e = loadInitialParams(f.init, *trainEngine, gpt2); !e.empty())
      return usageError("--init " + e);
    std::printf("init    %s\n", f.init.c_str());
  }

  // --resume: the parameters, AdamW moments, step and curves of a saved step folder.
  std::optional<TrainCheckpoint> resumed;
  if (!f.resume.empty()) {
    std::string folder = f.resume == "-" ? ckptRoot : f.resume;
    if (std::filesystem::is_directory(folder + "/checkpoints")) folder += "/checkpoints";
    if (!std::filesystem::exists(folder + "/state.bin")) {
      IoResult<std::string> latest = latestCheckpoint(folder);
      if (!latest) return usageError("--resume " + latest.error());
      folder = *latest;
    }
    IoResult<TrainCheckpoint> c = readTrainCheckpoint(folder);
    if (!c) return usageError("--resume: " + c.error());
    // The model and its constants first: a folder of another model is named as such.
    std::vector<std::string> keys = {"model", "sets"};
    for (const auto& kv : info)
      if (kv.first != "model" && kv.first != "sets") keys.push_back(kv.first);
    for (const std::string& key : keys) {
      const std::string& value = info.at(key);
      auto it = c->info.find(key);
      if (it != c->info.end() && it->second != value)
        return usageError(fmt::format("--resume {}: the run was started with {} `{}`, this one "
                                      "has `{}` (resume with the same flags)",
                                      folder, flagOf(key), it->second, value));
    }
    std::vector<NamedTensor> tensors = std::move(c->params);
    for (NamedTensor& t : c->optimizer)
      tensors.push_back(std::move(t));
    if (std::string e = trainer->restore(tensors, c->step, c->trainCurve, c->valCurve); !e.empty())
      return usageError(fmt::format("--resume {}: {}", folder, e));
    std::printf("resume  %s: step %lld of %lld\n", folder.c_str(), static_cast<long long>(c->step),
                static_cast<long long>(f.steps));
    resumed = std::move(*c);
  }

  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return usageError(fmt::format("--out {}: {}", f.out, ec.message()));
  IoResult<MainLog> log = MainLog::open(f.out + "/main.log");
  if (!log) return usageError(log.error());
  if (resumed) { // main.log as the uninterrupted run wrote it up to here
    size_t v = 0;
    for (const LossPoint& p : trainer->trainCurve()) {
      for (; v < trainer->valCurve().size() && trainer->valCurve()[v].step <= p.step; ++v)
        log->val(trainer->valCurve()[v].step, trainer->valCurve()[v].loss);
      log->train(p.step, p.loss);
    }
  }

  auto saveCheckpoint = [&](std::string* folder) -> std::string {
    TrainCheckpoint c;
    c.step = trainer->stepsDone();
    c.info = info;
    if (std::string e = trainer->readTensors(ValueKind::Param, &c.params); !e.empty()) return e;
    if (std::string e = trainer->readTensors(ValueKind::State, &c.optimizer); !e.empty()) return e;
    c.trainCurve = trainer->trainCurve();
    c.valCurve = trainer->valCurve();
    if (gpt2) c.gpt2 = *gpt2;
    IoStatus st = writeTrainCheckpoint(ckptRoot, c, f.keep, folder);
    return st ? "" : st.error();
  };
  std::printf("model   %s (%sB=%lld T=%lld), %.2fM params\n", f.model.c_str(), config.c_str(),
              static_cast<long long>(runB), static_cast<long long>(runT), double(paramCount) / 1e6);
  if (sortTask)
    std::printf("data    digit sorting: random sequences of 1-%lld digits, generated per step; "
                "%d held-out validation batches\n",
                static_cast<long long>(sortMaxLen(trainEngine->graph())), f.valBatches);
  else
    std::printf("data    %s: %lld train / %lld val tokens, vocabulary %d\n", f.data.c_str(),
                static_cast<long long>(trainTokens), static_cast<long long>(valTokens),
                shards ? int(bpe ? bpe->vocabSize() : 0) : tok.vocabSize());
  std::printf("engine  %s; %d threads; 3 graphs ready in %.1f s\n", trainEngine->describe().c_str(),
              threads, compileSeconds);
  std::printf("train   %lld steps, AdamW lr %.1e (warmup %lld, cosine to %.1e), seed %llu\n",
              static_cast<long long>(f.steps), f.lr, static_cast<long long>(f.warmup),
              f.lr * f.minLrFraction, static_cast<unsigned long long>(f.seed));
  std::fflush(stdout);

  auto runStart = std::chrono::steady_clock::now();
  installInterruptHandlers();
  const int64_t firstStep = trainer->stepsDone();
  const bool tty = isatty(fileno(stdout));
  while (!trainer->finished()) {
    StepReport r;
    const int64_t stepIndex = trainer->stepsDone();
    if (std::string e = study.before(*trainEngine, stepIndex); !e.empty()) return runError(e);
    std::string e = trainer->step(&r);
    std::string note;
    if (std::string stop = study.after(*trainEngine, stepIndex, &note); !stop.empty())
      return runError(stop);
    if (r.valLoss) log->val(trainer->valCurve().back().step, *r.valLoss);
    if (r.step > 0) log->train(r.step - 1, r.loss);
    if (!e.empty()) return runError(e);
    double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart).count();
    double eta = elapsed / double(r.step - firstStep) * double(r.totalSteps - r.step);
    std::string line = formatStepLine(r) + " | eta " + formatDuration(eta);
    if (tty) // the line, then a bar that the next line overwrites
      std::printf("\r\033[K%s\n%s", line.c_str(), progressBar(r.step, r.totalSteps, eta).c_str());
    else
      std::printf("%s\n", line.c_str());
    if (!note.empty()) std::printf("%s\n", note.c_str());
    std::fflush(stdout);
    const bool due =
        f.checkpointEvery > 0 && r.step % f.checkpointEvery == 0 && !trainer->finished();
    if (due || gInterrupted) {
      std::string folder;
      // A checkpoint that cannot be written (a full disk) is the user's to fix: exit 2, as for
      // the CLI's other errors; the previous checkpoint stays the latest.
      if (std::string e = saveCheckpoint(&folder); !e.empty()) return usageError(e);
      if (gInterrupted) {
        std::printf("%sinterrupted at step %lld: saved %s; continue with --resume %s\n",
                    tty ? "\r\033[K" : "", static_cast<long long>(r.step), folder.c_str(),
                    f.out.c_str());
        return 130;
      }
    }
  }
  if (tty) std::printf("\r\033[K");
  float finalVal = NAN;
  if (std::string e = trainer->validate(&finalVal); !e.empty()) return runError(e);
  log->val(trainer->stepsDone(), finalVal);
  double runSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart).count();
  std::printf("final   val %.4f after %lld steps, %.1f s\n", finalVal,
              static_cast<long long>(trainer->stepsDone()), runSeconds);

  std::string title =
      fmt::format("{} {}— loss per step (nats/{})", f.model, config, sortTask ? "token" : "char");
  if (IoStatus st =
          writeLossCurveSvg(f.out + "/loss.svg", trainer->trainCurve(), trainer->valCurve(), title);
      !st)
    return runError(st.error());
  if (!sortTask && !shards)
    if (IoStatus st = tok.save(f.out + "/vocab.bin"); !st) return runError(st.error());
  std::string meta = fmt::format(
      R"({{"model":"{}","sets":"{}","B":{},"T":{},"steps":{},"seed":{},"val_loss":{}}})",
      jsonEscape(f.model), jsonEscape(config), runB, runT, trainer->stepsDone(), f.seed,
      std::isfinite(finalVal) ? finalVal : -1.0f);
  if (std::string e = trainer->saveCheckpoint(f.out + "/model.ckpt", meta); !e.empty())
    return runError(e);
  std::string lastFolder;
  if (std::string e = saveCheckpoint(&lastFolder); !e.empty()) return runError(e);
  std::printf("wrote   %s/main.log, %s/loss.svg, %s%s/model.ckpt, %s\n", f.out.c_str(),
              f.out.c_str(), sortTask || shards ? "" : (f.out + "/vocab.bin, ").c_str(),
              f.out.c_str(), lastFolder.c_str());
  if (f.trace.report) // --report: the HTML page of this run (tools/cmd_report.cpp)
    if (int rc = writeRunReport(f.out, f.model, sets, runB, runT); rc != 0) return rc;

  if (sortTask) return reportSorting(*trainer, *evalEngine);
  if (f.sampleChars > 0 && (!shards || bpe)) {
    if (std::string e = trainEngine->copyParamsTo(*sampleEngine); !e.empty()) return runError(e);
    std::vector<int32_t> context = {bpe ? std::max(0, bpe->eot()) : std::max(0, tok.idOf('\n'))};
    SamplingOptions so{f.temperature, f.topK, f.seed};
    if (std::string e = sampleTokens(*sampleEngine, context, f.sampleChars, so); !e.empty())
      return runError(e);
    IoResult<std::string> sample = bpe ? bpe->decode(context) : tok.decode(context);
    if (!sample) return runError(sample.error());
    std::printf("sample  (temperature %.2f%s, seed %llu)\n%s\n", f.temperature,
                f.topK ? fmt::format(", top-k {}", f.topK).c_str() : "",
                static_cast<unsigned long long>(f.seed), sample->c_str());
  }
  return 0;
}

} // namespace

bool wantsTrainer(int argc, char** argv) {
  bool trainFlag = false, tokens = false;
  for (int i = 1; i < argc; ++i) {
    trainFlag |= !std::strcmp(argv[i], "--train");
    tokens |= !std::strncmp(argv[i], "--tokens", 8);
  }
  return trainFlag && !tokens;
}

int cmdTrain(int argc, char** argv) {
  CLI::App app{"gptc run --train: train a character-level GPT on a text file with the JIT. With "
               "no other argument: models/chargpt.graph (L=4 C=128 NH=4 B=32 T=64) on "
               "data/tinyshakespeare.txt",
               "gptc run --train"};
  TrainFlags f;
  app.add_flag("--train", f.train, "train (this command)");
  app.add_option("model", f.positionalModel, "the model file (same as --model)")
      ->type_name("MODEL.graph");
  app.add_option("--model", f.model, "the model (default models/chargpt.graph)")
      ->type_name("MODEL.graph");
  app.add_option("-i,--data", f.data,
                 "a text file (characters; the last 10% is validation) or an llm.c token shard "
                 "X_train.bin (validation: X_val.bin, else its last 10%)")
      ->type_name("FILE");
  app.add_option("-x,--steps", f.steps, "optimizer steps (default 2000)")->type_name("N");
  app.add_option("-b,--batch", f.batch, "batch size B (default 32)")->type_name("B");
  app.add_option("-t,--seq", f.seq, "sequence length T (default 64; at most the model's maxT)")
      ->type_name("T");
  app.add_option("-l,--lr", f.lr, "peak learning rate (default 1e-3)")->type_name("LR");
  app.add_option("-q,--min-lr-fraction", f.minLrFraction,
                 "the cosine's floor as a fraction of --lr (default 0.1)")
      ->type_name("F");
  app.add_option("-u,--warmup", f.warmup, "linear warmup steps (default 100)")->type_name("N");
  app.add_option("-v,--val-every", f.valEvery,
                 "validation loss every N steps (default 100; 0: end)")
      ->type_name("N");
  app.add_option("-m,--val-batches", f.valBatches, "batches per validation (default 8)")
      ->type_name("N");
  app.add_option("-o,--out", f.out, "output folder (default out/<model name>, e.g. out/chargpt)")
      ->type_name("DIR");
  app.add_option("--seed", f.seed, "seed of params, batches, dropout, sampling (default 1337)")
      ->type_name("N");
  app.add_option("--set", f.sets, "override a model constant, e.g. --set L=6 C=256 NH=8")
      ->type_name("NAME=VALUE")
      ->take_all()
      ->expected(1, -1);
  app.add_option("-n,--checkpoint-every", f.checkpointEvery,
                 "save a checkpoint every N steps into <out>/checkpoints (default 500; 0: at the "
                 "end only). Ctrl-C also saves one, then exits")
      ->type_name("N");
  app.add_option("--tokenizer", f.tokenizer,
                 "GPT-2 encoder.json + vocab.bpe folder, to print samples of *.bin data")
      ->type_name("DIR");
  app.add_option("-e,--init", f.init,
                 "start from these weights: an llm.c or gptc checkpoint, or (GPT-2) a Hugging "
                 "Face model.safetensors")
      ->type_name("FILE");
  app.add_option("--keep", f.keep, "checkpoints kept (default 3: the newest)")->type_name("K");
  app.add_option("--resume", f.resume,
                 "continue a run from a step folder or a run folder (its newest checkpoint); "
                 "with the same flags the losses continue bit for bit")
      ->type_name("DIR")
      ->expected(0, 1)
      ->default_str("-");
  app.add_option("--threads", f.threads, "threads (default: OMP_NUM_THREADS or all cores)")
      ->type_name("N");
  app.add_flag("--interpret", f.interpret, "run on the reference interpreter instead of the JIT");
  app.add_option("--sample", f.sampleChars, "characters to sample at the end (default 400)")
      ->type_name("N");
  app.add_option("--temperature", f.temperature, "sampling temperature (default 0.8; 0 = greedy)")
      ->type_name("X");
  app.add_option("--top-k", f.topK, "sample from the k most likely characters (default 0 = all)")
      ->type_name("K");
  addTraceFlags(app, f.trace);
  if (int code = parseCommandLine(app, argc, argv, "run --train"); code >= 0) return code;
  // An explicit 0 is an error, not the default (tools/input_checks.h).
  if (std::string e =
          checkShapeFlags(app.count("--batch") > 0, f.batch, app.count("--seq") > 0, f.seq);
      !e.empty())
    return usageError(e);
  if (std::string e = checkThreadsFlag(f.threads); !e.empty()) return usageError(e);
  f.tokenizerGiven = app.count("--tokenizer") > 0;
  return train(std::move(f));
}

} // namespace gptc::tools
