// tools/cmd_train.cpp — `gptc run --train`: trains a character-level GPT on a text file with the
// JIT (or the interpreter with --interpret). With no other argument: models/chargpt.graph on
// data/tinyshakespeare.txt at a CPU-sized configuration (kDefaultSets), the last 10% held out.
//
// It compiles three graphs from one model: the training step (train pipeline, dropout on), the
// evaluation step (inference pipeline, --set drop=0, same B and T) for the validation loss, and
// the B=1 KV-cache decode step `gptc run --generate` samples with (runtime/train/run_sample.h); the
// last two receive the trained parameters by name. The data's vocabulary is checked against the
// model's V before anything compiles (runtime/text/vocab_check.h). Output:
// a progress line per step, out/<run>/main.log (llm.c's format), out/<run>/loss.svg, the
// vocabulary, step folders of params and AdamW state (model.ckpt names the last one), then a
// sample of text.
//
// What it leaves to others: the loop (runtime/train/trainer.h), the schedule, sampling, the files
// (runtime/train/progress.h, llmc_checkpoint.h); resuming from the checkpoint is a later slice.
#include "tools/train_command.h"

#include "tools/input_checks.h"
#include "tools/options.h"
#include "tools/trace_flags.h"

#include "ir/printer.h"
#include "passes/plan_memory.h"
#include "runtime/exec/mpi_comm.h"
#include "runtime/formats/param_store.h"
#include "runtime/formats/run_card.h"
#include "runtime/formats/safetensors.h"
#include "runtime/formats/weights_pointer.h"
#include "runtime/text/bpe_tokenizer.h"
#include "runtime/text/char_tokenizer.h"
#include "runtime/text/vocab_check.h"
#include "runtime/text/word_tokenizer.h"
#include "runtime/trace/check_finite.h"
#include "runtime/train/batch_source.h"
#include "runtime/train/run_lock.h"
#include "runtime/train/run_sample.h"
#include "runtime/train/train_checkpoint.h"
#include "runtime/train/trainer.h"

#include "driver/model_card.h"

#include "codegen/thread_count.h"
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
  ModelFlags model_;   // --set, -b, -t (tools/options.h); defaults: kDefaultSets for chargpt
  OptimizerFlags opt = // --lr, --warmup, --lr-schedule, AdamW's settings
      OptimizerFlags{.lrSchedule = "cosine", .warmup = 100};
  int64_t valEvery = 100;
  int valBatches = 8;
  std::string out; // default out/<model name>
  uint64_t seed = 1337;
  int threads = 0;
  bool interpret = false;
  int sampleChars = 400;
  double temperature = 0.8;
  int topK = 0;
  bool train = false;
  TraceFlags trace;              // --trace and friends (runtime/trace/trace_session.h)
  int64_t checkpointEvery = 500; // 0 = only at the end (and on Ctrl-C)
  int keep = 3;
  std::string init;            // weights to start from
  std::string tokenizer;       // decodes samples of *.bin data; default assets/gpt2_tokenizer
  std::string resume;          // a step folder or a run folder; "-" = --out's latest
  std::string memoryBudget;    // --memory-budget: the training step's plan (passes/remat.h)
  bool fusedAttention = true;  // --no-fused-attention: off (passes/fuse_attention.cpp)
  bool fusedLmHead = false;    // --fused-lm-head (passes/fuse_lm_head.cpp)
  bool tokenizerGiven = false; // a --tokenizer that does not load is an error, the default is not
  bool dataGiven = false;      // else a model card's `data = NAME` names the text
  int zero = 0;                // --zero 1: under mpirun, AdamW's moments sharded (ZeRO-1)
};

volatile std::sig_atomic_t gInterrupted = 0;

extern "C" void onInterrupt(int) {
  gInterrupted = 1; // SA_RESETHAND: a second Ctrl-C kills at once (checkpoints stay whole)
}

/// Ctrl-C and SIGTERM ask the loop to save a checkpoint and stop after the current step.
void installInterruptHandlers() {
  struct sigaction sa{};
  sa.sa_handler = onInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// The run card (runtime/formats/run_card.h): the settings a run's batches, dropout masks and
/// schedule depend on, and the model's source hash. Saved in every checkpoint and compared on
/// --resume, because any difference breaks the bit-exact continuation; written to <out>/run.card
/// for `gptc report`.
RunCard runCard(const TrainFlags& f, const std::vector<std::string>& sets, int64_t B, int64_t T,
                int64_t dataTokens) {
  RunCard card;
  card.model = f.model;
  if (Expected<std::string> text = readTextFile(f.model); text) {
    card.modelHash = modelSourceHash(*text);
    card.modelSource = *text;
  }
  card.sets = sets;
  card.B = B;
  card.T = T;
  card.steps = f.steps;
  card.seed = f.seed;
  card.dataTokens = dataTokens;
  card.optimizer = optimizerInfo(f.opt);
  return card;
}

/// The flag a run-info key comes from, for the resume error.
std::string flagOf(const std::string& key) {
  static const std::map<std::string, std::string> flags = {{"model", "--model"},
                                                           {"sets", "--set"},
                                                           {"B", "--batch"},
                                                           {"T", "--seq"},
                                                           {"seed", "--seed"},
                                                           {"steps", "--steps"},
                                                           {"lr", "--lr"},
                                                           {"warmup", "--warmup"},
                                                           {"min_lr_fraction", "--min-lr-fraction"},
                                                           {"data_tokens", "--data"},
                                                           {"lr_schedule", "--lr-schedule"},
                                                           {"weight_decay", "--weight-decay"},
                                                           {"beta1", "--beta1"},
                                                           {"beta2", "--beta2"},
                                                           {"eps", "--eps"},
                                                           {"grad_clip", "--grad-clip"},
                                                           {"model_hash", "the model source hash"}};
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

/// Compiles `model` with the run's constants `mf` through `pipeline` (the optimizer's settings go
/// to the optimizer pass); prints the Diag and returns nullopt on error.
std::optional<CompiledModel> compile(const TrainFlags& f, const ModelFlags& mf,
                                     const char* pipeline) {
  PipelineFlags pf;
  pf.pipeline = pipeline;
  pf.passOptions = optimizerPassOptions(f.opt);
  // A trace observes attention's scores and masked scores, which fusion keeps in registers (and
  // fused attention never makes): the traced step runs attention unfused.
  if (f.trace.trace) pf.disablePasses = {"fuse", "fuse-attention"};
  if (std::string(pipeline) == "train") pf.memoryBudget = f.memoryBudget;
  pf.fusedAttention = f.fusedAttention && !f.trace.trace;
  // The traced step observes the logits; the eval and generation pipelines never run fuse-lm-head.
  pf.fusedLmHead = f.fusedLmHead && !f.trace.trace;
  // Under mpirun: one rank's step of a data-parallel job (passes/data_parallel.cpp).
  if (std::string(pipeline) == "train" && mpi::world().size > 1) {
    pf.passOptions["data-parallel.ranks"] = fmt::format("{}", mpi::world().size);
    pf.passOptions["data-parallel.zero"] = fmt::format("{}", f.zero);
  }
  Expected<CompiledModel> c = compileModel(f.model, mf, pf, stderr);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().render().c_str());
    return std::nullopt;
  }
  return std::move(*c);
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

/// `model` expanded with the run's constants and no other pass: what the data is checked against
/// before anything compiles, and the program and overrides the sampler's decode step starts from.
Expected<Graph> expandForChecks(const std::string& model, const ModelFlags& mf,
                                std::shared_ptr<ast::Program>* program, ConstOverrides* overrides) {
  Expected<std::string> text = readTextFile(model);
  if (!text) return text.error();
  Expected<std::shared_ptr<ast::Program>> p = parseProgram(*text, model);
  if (!p) return p.error();
  Expected<ConstOverrides> o = constOverrides(mf, **p);
  if (!o) return o.error();
  *program = *p;
  *overrides = *o;
  return expandProgram(**p, *o);
}

/// The flags' values, one line each, before anything slow happens: "" or the usage error.
std::string checkFlagValues(const TrainFlags& f) {
  if (f.steps < 1) return fmt::format("--steps must be at least 1, got {}", f.steps);
  if (f.model_.batch < 0 || f.model_.seq < 0)
    return "--batch and --seq must be positive (0 = the default)";
  if (std::string e = checkOptimizerFlags(f.opt); !e.empty()) return e;
  if (f.valEvery < 0) return fmt::format("--val-every must be >= 0, got {}", f.valEvery);
  if (f.valBatches < 1)
    return fmt::format("--val-batches must be at least 1, got {}", f.valBatches);
  if (f.threads < 0) return fmt::format("--threads must be >= 0, got {}", f.threads);
  if (f.sampleChars < 0) return fmt::format("--sample must be >= 0, got {}", f.sampleChars);
  if (!(f.temperature >= 0) || !std::isfinite(f.temperature))
    return fmt::format("--temperature must be >= 0, got {}", f.temperature);
  if (f.topK < 0) return fmt::format("--top-k must be >= 0, got {}", f.topK);
  if (f.checkpointEvery < 0)
    return fmt::format("--checkpoint-every must be >= 0, got {}", f.checkpointEvery);
  if (f.keep < 1) return fmt::format("--keep must be at least 1, got {}", f.keep);
  if (f.zero != 0 && f.zero != 1) return fmt::format("--zero must be 0 or 1, got {}", f.zero);
  return "";
}

/// One training run, stage by stage: train() calls the stages in the order they are declared.
/// Each returns 0 to go on, else the process's exit code (it has printed why). The members are
/// declared in the order the stages make them, which is also the order they must be destroyed
/// in reverse: the trace hooks detach from the training step before it goes, the trainer goes
/// before the engines it steps.
struct TrainRun {
  TrainFlags f;
  // Under mpirun this process is one rank of a data-parallel job (runtime/exec/mpi_comm.h, docs/
  // scale-out.md): every rank trains on its rows; rank 0 alone prints, logs and writes files.
  int rank = 0, ranks = 1;
  bool writer = true;

  /// The run's constants: the default configuration applies to the default model only, as
  /// defaults; the user's --set, -b and -t override them.
  void chooseConstants();
  /// Reads and checks the data against the model's vocabulary, before anything compiles.
  int readData();
  /// The training, evaluation and sampling steps.
  int compileEngines();
  /// The trainer over the data, its parameters initialized.
  int makeTrainer();
  /// The run card, the parameter count, the checkpoint format; under mpirun, the check that
  /// every rank compiled the same step from the same flags.
  int describeRun();
  /// Takes the run folder's lock, then --init or --resume.
  int lockAndRestore();
  /// main.log (with the resumed run's curves) and run.card; prints the run's header.
  int openLog();
  /// The training steps, with checkpoints; 130 after Ctrl-C.
  int loop();
  /// The final validation, loss.svg, vocab.bin, the last checkpoint and model.ckpt, --report.
  int finish();
  /// The sorter's accuracy, or a sample of text through the decode step.
  int sample();

  /// Writes a step folder of the trainer's state into <out>/checkpoints: "" or why not;
  /// *diverged when that state holds a NaN or Inf (then nothing is written).
  std::string saveCheckpoint(std::string* folder, bool* diverged);
  /// The run diverged (`why`): one line with the op that made the first NaN/Inf (a replay with
  /// the checker, runtime/trace/check_finite.h) and the last good checkpoint, kept; exit 1.
  int diverged(const std::string& why);

  // chooseConstants
  std::vector<std::string> sets; // what the log shows
  ModelFlags trainFlags;
  // readData
  std::chrono::steady_clock::time_point start;
  std::shared_ptr<ast::Program> program;
  ConstOverrides overrides;
  Expected<Graph> expanded = Diag{};
  bool sortTask = false;
  CharTokenizer tok = CharTokenizer::fromText("");
  std::optional<WordTokenizer> words; // the card's `vocab = words` (runtime/text/word_tokenizer.h)
  std::optional<BpeTokenizer> bpe;
  std::optional<TokenSplit> split;
  bool shards = false;
  // compileEngines
  Engine engine = Engine::Jit;
  int threads = 0;
  std::unique_ptr<StepEngine> trainEngine; // declared first: the hooks detach from it first
  StudyHooks study;
  std::unique_ptr<StepEngine> evalEngine;
  std::unique_ptr<RunSampler> sampler;
  double compileSeconds = 0;
  // makeTrainer
  int64_t trainTokens = 0, valTokens = 0;
  std::unique_ptr<Trainer> trainer;
  // describeRun
  int64_t paramCount = 0;
  std::string config;
  int64_t runB = 0, runT = 0;
  RunCard card;
  std::map<std::string, std::string> info;
  std::optional<Gpt2Config> gpt2;
  std::string ckptRoot;
  // lockAndRestore
  std::optional<RunLock> runLock;
  std::optional<TrainCheckpoint> resumed;
  // openLog
  std::optional<MainLog> log;
  // loop, finish
  std::chrono::steady_clock::time_point runStart;
  float finalVal = NAN;
};

void TrainRun::chooseConstants() {
  // -b conflicts only with a --set B=... that was given.
  const bool defaultModel = f.model == kDefaultModel;
  // Found from any folder (beside the binary or in the source tree), like the data below.
  if (defaultModel) f.model = sourceTreePath(kDefaultModel);
  sets = defaultModel ? kDefaultSets : std::vector<std::string>{};
  sets.insert(sets.end(), f.model_.sets.begin(), f.model_.sets.end());
  trainFlags = f.model_;
  if (defaultModel) {
    trainFlags.defaults = kDefaultSets;
    trainFlags.defaults.push_back(fmt::format("B={}", kDefaultB));
    trainFlags.defaults.push_back(fmt::format("T={}", kDefaultT));
  }
}

int TrainRun::readData() {
  start = std::chrono::steady_clock::now();
  // The model expanded with the run's constants (no passes, cheap): the data is checked against
  // it before anything compiles (runtime/text/vocab_check.h). When it does not expand, compile()
  // in compileEngines reports why.
  expanded = expandForChecks(f.model, trainFlags, &program, &overrides);
  // The seq2seq model learns the digit-sorting task, generated on the fly: no data file.
  sortTask = expanded && isSortModel(*expanded);

  // Data: an llm.c token shard (`*.bin`, e.g. from `gptc tokenize`: GPT-2 BPE ids), or a text
  // file whose distinct bytes are the vocabulary, as the char-GPT does.
  if (expanded && !sortTask)
    if (Expected<ModelCard> card = readModelCard(*program); card) {
      if (card->vocab == "words") words = WordTokenizer::fromText("");
      if (!f.dataGiven && !card->data.empty()) f.data = "data/" + card->data + ".txt";
    }
  if (!f.dataGiven) f.data = sourceTreePath(f.data); // the default, from any folder
  shards = f.data.size() > 4 && f.data.rfind(".bin") == f.data.size() - 4;
  if (!expanded || sortTask) return 0;
  if (expanded->find("logits") < 0)
    return usageError(f.model + ": the model has no `logits` output to sample from");
  const ModelVocab mv = modelVocab(f.model, *program, *expanded);
  const int64_t V = mv.V;
  if (shards) {
    IoResult<std::vector<uint16_t>> train = readLlmcTokens(f.data);
    if (!train) return usageError(train.error());
    if (std::string e = checkShardVocabulary(f.data, *train, kLlmcHeaderBytes, mv); !e.empty())
      return usageError(e);
    // X_train.bin's validation is X_val.bin when it exists, else its own last 10%.
    std::string valPath;
    if (f.data.size() > 10 && f.data.rfind("_train.bin") == f.data.size() - 10)
      valPath = f.data.substr(0, f.data.size() - 10) + "_val.bin";
    if (!valPath.empty() && std::filesystem::exists(valPath)) {
      IoResult<std::vector<uint16_t>> val = readLlmcTokens(valPath);
      if (!val) return usageError(val.error());
      if (std::string e = checkShardVocabulary(valPath, *val, kLlmcHeaderBytes, mv); !e.empty())
        return usageError(e);
      split = TokenSplit{std::move(*train), std::move(*val)};
    } else {
      IoResult<TokenSplit> s = splitTrainVal(*train, 0.1);
      if (!s) return usageError(s.error());
      split = std::move(*s);
    }
    if (f.tokenizer.empty()) f.tokenizer = assetPath("gpt2_tokenizer");
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
    if (words)
      words = WordTokenizer::fromText(*text);
    else
      tok = CharTokenizer::fromText(*text);
    if (std::string e = words ? checkWordVocabulary(f.data, words->vocabSize(), mv)
                              : checkTextVocabulary(f.data, tok.vocabSize(), mv);
        !e.empty())
      return usageError(e);
    IoResult<std::vector<int32_t>> ids = words ? words->encode(*text) : tok.encode(*text);
    if (!ids) return usageError(ids.error());
    IoResult<std::vector<uint16_t>> narrow = narrowTokens(*ids);
    if (!narrow) return usageError(narrow.error());
    IoResult<TokenSplit> s = splitTrainVal(*narrow, 0.1);
    if (!s) return usageError(s.error());
    split = std::move(*s);
  }
  return 0;
}

int TrainRun::compileEngines() {
  std::optional<CompiledModel> trainModel = compile(f, trainFlags, "train");
  if (!trainModel) return 2;
  if (!expanded) return usageError(expanded.error().render()); // compile() expanded it, though
  ModelFlags evalFlags = trainFlags; // later assignments win: these are not the user's
  if (hasConst(*trainModel->program, "drop")) evalFlags.sets.push_back("drop=0");
  std::optional<CompiledModel> evalModel = compile(f, evalFlags, "inference");
  if (!evalModel) return 2;

  engine = f.interpret ? Engine::Interpreter : Engine::Jit;
  threads = f.threads > 0 ? f.threads : defaultThreadCount();
  std::string err;
  // --trace, --check-finite (tools/trace_flags.h): the plan keeps traced values readable, the
  // step calls the NaN/Inf checker after every kernel.
  auto text = [this](int32_t id) {
    if (words) return id >= 0 && id < words->vocabSize() ? words->words()[size_t(id)] : "?";
    return id >= 0 && id < tok.vocabSize() ? std::string(1, char(tok.symbols()[id])) : "?";
  };
  if (words) f.trace.tokenSeparator = " ";
  if (std::string e = study.prepare(f.trace, trainModel->graph, f.out, text, !f.interpret);
      !e.empty())
    return usageError(e);
  trainEngine = makeEngine(engine, std::move(trainModel->graph), threads, study.compileOptions(),
                           &err, study.plan());
  if (!trainEngine) return runError("compiling the training step: " + err);
  if (std::string e = study.attach(*trainEngine); !e.empty()) return runError(e);
  evalEngine = makeEngine(engine, std::move(evalModel->graph), threads, {}, &err);
  if (!evalEngine) return runError("compiling the evaluation step: " + err);
  // The sample at the end: the KV-cache decode step `gptc run --generate` uses
  // (runtime/train/run_sample.h); by recomputation only for a model without one.
  if (!sortTask && f.sampleChars > 0 && (!shards || bpe) && writer) {
    const Graph& tg = trainEngine->graph();
    const int64_t runT = tg.type(tg.find("tokens")).shape[1]; // (B,T)
    sampler = RunSampler::create(program, overrides, runT, engine, threads, &err);
    if (!sampler) return runError("compiling the sampling step: " + err);
  }
  compileSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 0;
}

int TrainRun::makeTrainer() {
  TrainOptions opts;
  opts.steps = f.steps;
  opts.schedule.maxLr = f.opt.lr;
  opts.schedule.minLr = f.opt.lr * f.opt.minLrFraction;
  opts.schedule.warmupSteps = f.opt.warmup;
  LrSchedule::kindFromName(f.opt.lrSchedule, &opts.schedule.kind); // checked above
  opts.valEvery = f.valEvery;
  opts.valBatches = f.valBatches;
  opts.seed = f.seed;
  opts.rank = rank;
  opts.ranks = ranks;
  trainTokens = split ? int64_t(split->train.size()) : 0;
  valTokens = split ? int64_t(split->val.size()) : 0;
  std::string err;
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
  return 0;
}

int TrainRun::describeRun() {
  for (const Value& v : trainEngine->graph().values)
    if (v.kind == ValueKind::Param) paramCount += v.type.numel();
  for (const std::string& s : sets)
    config += s + " ";
  const Graph& tg = trainEngine->graph();
  const TensorType& tokensType = tg.type(tg.find(sortTask ? "tgt_in" : "tokens"));
  runB = tokensType.shape[0], runT = tokensType.shape[1]; // (B,T)
  // B in the card is the global batch (all ranks' rows): what the batches and the masks depend
  // on, so a checkpoint of 2 ranks with -b 2 resumes on 1 rank with -b 4, and the reverse.
  card = runCard(f, sets, runB * ranks, runT, trainTokens + valTokens);
  info = card.toInfo();
  // The start-up check: every rank compiled the same step from the same flags, or all stop here.
  if (ranks > 1)
    if (std::string e = mpi::checkSameEverywhere("compiled training step and flags",
                                                 printGraph(tg) + card.toText({}));
        !e.empty())
      return usageError(e);
  // GPT-2 models' parameters are saved in llm.c's format, the others in gptc's.
  if (IoResult<Gpt2Config> c = gpt2ConfigOf(tg); c) {
    bool llmcNames = true; // chargpt is GPT-2 shaped but names its tensors its own way
    for (const LlmcTensorSpec& spec : llmcTensorSpecs(*c)) {
      int v = tg.find(spec.name);
      llmcNames &=
          v >= 0 && tg.values[v].kind == ValueKind::Param && tg.type(v).shape == spec.shape;
    }
    if (llmcNames) gpt2 = *c;
  }
  ckptRoot = f.out + "/checkpoints";
  return 0;
}

int TrainRun::lockAndRestore() {
  // One trainer per run folder (runtime/train/run_lock.h), taken before anything in it is read or
  // written; released when this process ends, however it ends.
  std::error_code lockEc;
  std::filesystem::create_directories(f.out, lockEc);
  if (lockEc) return usageError(fmt::format("--out {}: {}", f.out, lockEc.message()));
  if (writer) { // rank 0's alone: it writes the folder
    IoResult<RunLock> lock = RunLock::acquire(f.out);
    if (!lock) return usageError(lock.error());
    runLock = std::move(*lock);
  }

  // --init: start from given weights (the AdamW moments stay zero).
  if (!f.init.empty()) {
    if (!f.resume.empty()) return usageError("--init and --resume exclude each other");
    if (std::string e = loadInitialParams(f.init, *trainEngine, gpt2); !e.empty())
      return usageError("--init " + e);
    std::printf("init    %s\n", f.init.c_str());
  }
  if (f.resume.empty()) return 0;

  // --resume: the parameters, AdamW moments, step and curves of a saved step folder.
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
    if (it != c->info.end() && it->second != value && key == "model_hash")
      return usageError(fmt::format("--resume {}: {} was edited since the run started (source "
                                    "hash {} then, {} now); resume with the model as it was",
                                    folder, f.model, it->second, value));
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
  return 0;
}

int TrainRun::openLog() {
  std::error_code ec;
  std::filesystem::create_directories(f.out, ec);
  if (ec) return usageError(fmt::format("--out {}: {}", f.out, ec.message()));
  IoResult<MainLog> opened = MainLog::open(writer ? f.out + "/main.log" : "/dev/null");
  if (!opened) return usageError(opened.error());
  log.emplace(std::move(*opened));
  // A write that fails (a full disk) is the user's to fix, as for a checkpoint: exit 2. main.log
  // keeps its whole lines (runtime/train/progress.h), run.card is whole or absent.
  if (IoStatus st = log->note(fmt::format("gptc run --train: {} {}B={} T={}, {} steps, seed {}",
                                          f.model, config, runB, runT, f.steps, f.seed));
      !st)
    return usageError(st.error());
  if (IoStatus st = log->note(describeOptimizer(f.opt)); !st) return usageError(st.error());
  if (writer)
    if (IoStatus st = writeRunCard(f.out + "/run.card", card); !st) return usageError(st.error());
  if (resumed) { // main.log as the uninterrupted run wrote it up to here
    size_t v = 0;
    for (const LossPoint& p : trainer->trainCurve()) {
      for (; v < trainer->valCurve().size() && trainer->valCurve()[v].step <= p.step; ++v)
        if (IoStatus st = log->val(trainer->valCurve()[v].step, trainer->valCurve()[v].loss); !st)
          return usageError(st.error());
      if (IoStatus st = log->train(p.step, p.loss); !st) return usageError(st.error());
    }
  }

  std::printf("model   %s (%sB=%lld T=%lld), %.2fM params\n", f.model.c_str(), config.c_str(),
              static_cast<long long>(runB), static_cast<long long>(runT), double(paramCount) / 1e6);
  if (sortTask)
    std::printf("data    digit sorting: random sequences of 1-%lld digits, generated per step; "
                "%d held-out validation batches\n",
                static_cast<long long>(sortMaxLen(trainEngine->graph())), f.valBatches);
  else
    std::printf("data    %s: %lld train / %lld val tokens, vocabulary %d\n", f.data.c_str(),
                static_cast<long long>(trainTokens), static_cast<long long>(valTokens),
                shards  ? int(bpe ? bpe->vocabSize() : 0)
                : words ? words->vocabSize()
                        : tok.vocabSize());
  std::printf("engine  %s; %d threads; %d graphs ready in %.1f s\n",
              trainEngine->describe().c_str(), threads, sampler ? 3 : 2, compileSeconds);
  if (sampler && !sampler->note().empty()) std::printf("note    %s\n", sampler->note().c_str());
  std::printf("train   %lld steps, %s, seed %llu\n", static_cast<long long>(f.steps),
              describeOptimizer(f.opt).c_str(), static_cast<unsigned long long>(f.seed));
  std::fflush(stdout);
  return 0;
}

std::string TrainRun::saveCheckpoint(std::string* folder, bool* diverged) {
  TrainCheckpoint c;
  c.step = trainer->stepsDone();
  c.info = info;
  if (std::string e = trainer->readTensors(ValueKind::Param, &c.params); !e.empty()) return e;
  if (std::string e = trainer->readTensors(ValueKind::State, &c.optimizer); !e.empty()) return e;
  // A finite loss does not make a finite state (the step's update comes after its loss): a
  // state with a NaN or Inf is never saved, so the newest checkpoint stays a good one.
  std::string bad = firstNonFinite(c.params);
  if (bad.empty()) bad = firstNonFinite(c.optimizer);
  if (!bad.empty()) {
    *diverged = true;
    return fmt::format("after step {} {}: training diverged (try a lower --lr)", c.step, bad);
  }
  if (!writer) return ""; // every rank read (with --zero 1 the moments are gathered)
  c.trainCurve = trainer->trainCurve();
  c.valCurve = trainer->valCurve();
  if (gpt2) c.gpt2 = *gpt2;
  IoStatus st = writeTrainCheckpoint(ckptRoot, c, f.keep, folder);
  return st ? "" : st.error();
}

int TrainRun::diverged(const std::string& why) {
  // The newest checkpoint of the run folder is a good state (saveCheckpoint never writes
  // another): replay from it, or from the seeded init, with the NaN/Inf checker.
  std::string kept = "none";
  std::optional<TrainCheckpoint> from;
  if (IoResult<std::string> latest = latestCheckpoint(ckptRoot); latest) {
    kept = *latest;
    IoResult<TrainCheckpoint> c = readTrainCheckpoint(*latest);
    if (c && c->step < trainer->stepsDone()) from = std::move(*c);
  }
  std::string culprit = "rerun with --check-finite to name the op";
  if (engine == Engine::Jit && (from || (f.init.empty() && !resumed))) {
    std::vector<NamedTensor> state;
    if (from) {
      state = std::move(from->params);
      for (NamedTensor& t : from->optimizer)
        state.push_back(std::move(t));
    }
    std::string err;
    std::string found =
        findFirstNonFinite(*trainer, trainEngine->graph(), threads, from ? &state : nullptr,
                           from ? from->step : 0, trainer->stepsDone(), &err);
    culprit = found.empty() ? "not found by a replay with --check-finite (" + err + ")" : found;
  }
  return runError(
      fmt::format("{}; the first NaN/Inf: {}; the last good checkpoint: {}", why, culprit, kept));
}

int TrainRun::loop() {
  runStart = std::chrono::steady_clock::now();
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
    if (r.valLoss)
      if (IoStatus st = log->val(trainer->valCurve().back().step, *r.valLoss); !st)
        return usageError(st.error());
    if (r.step > 0)
      if (IoStatus st = log->train(r.step - 1, r.loss); !st) return usageError(st.error());
    if (!e.empty()) return r.step > 0 ? diverged(e) : runError(e);
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
      bool bad = false;
      if (std::string e = saveCheckpoint(&folder, &bad); !e.empty())
        return bad ? diverged(e) : usageError(e);
      if (gInterrupted) {
        std::printf("%sinterrupted at step %lld: saved %s; continue with --resume %s\n",
                    tty ? "\r\033[K" : "", static_cast<long long>(r.step), folder.c_str(),
                    f.out.c_str());
        return 130;
      }
    }
  }
  if (tty) std::printf("\r\033[K");
  return 0;
}

int TrainRun::finish() {
  if (std::string e = trainer->validate(&finalVal); !e.empty()) return runError(e);
  if (IoStatus st = log->val(trainer->stepsDone(), finalVal); !st) return usageError(st.error());
  double runSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - runStart).count();
  std::printf("final   val %.4f after %lld steps, %.1f s\n", finalVal,
              static_cast<long long>(trainer->stepsDone()), runSeconds);

  if (!writer) { // the files and the sample are rank 0's; its final checkpoint gathers from all
    std::string unused;
    bool bad = false;
    std::string e = saveCheckpoint(&unused, &bad);
    return e.empty() ? 0 : runError(e);
  }
  std::string title = fmt::format("{} {}— loss per step (nats/{})", f.model, config,
                                  sortTask ? "token"
                                  : words  ? "word"
                                           : "char");
  if (IoStatus st =
          writeLossCurveSvg(f.out + "/loss.svg", trainer->trainCurve(), trainer->valCurve(), title);
      !st)
    return runError(st.error());
  if (!sortTask && !shards)
    if (IoStatus st = words ? words->save(f.out + "/vocab.words") : tok.save(f.out + "/vocab.bin");
        !st)
      return runError(st.error());
  // The run card, and what the run reached: `gptc run --generate` reads the model from it.
  std::string meta =
      card.toText({{"steps_done", fmt::format("{}", trainer->stepsDone())},
                   {"val_loss", fmt::format("{}", std::isfinite(finalVal) ? finalVal : -1.0f)}});
  std::string lastFolder;
  bool bad = false;
  if (std::string e = saveCheckpoint(&lastFolder, &bad); !e.empty())
    return bad ? diverged(e) : runError(e);
  // model.ckpt: the metadata, and the name of the step folder that holds the weights (written
  // once; runtime/formats/weights_pointer.h).
  if (IoStatus st = writeWeightsPointer(f.out + "/model.ckpt", meta, lastFolder + "/model.bin");
      !st)
    return runError(st.error());
  std::printf(
      "wrote   %s/main.log, %s/loss.svg, %s%s/model.ckpt, %s\n", f.out.c_str(), f.out.c_str(),
      sortTask || shards ? "" : (f.out + (words ? "/vocab.words, " : "/vocab.bin, ")).c_str(),
      f.out.c_str(), lastFolder.c_str());
  if (f.trace.report) // --report: the HTML page of this run (tools/cmd_report.cpp)
    if (int rc = writeRunReport(f.out); rc != 0) return rc;
  return 0;
}

int TrainRun::sample() {
  if (sortTask) return reportSorting(*trainer, *evalEngine);
  if (!sampler) return 0;
  if (std::string e = sampler->copyParamsFrom(*trainEngine); !e.empty()) return runError(e);
  // The prompt and vocabulary `gptc run --generate` uses on this checkpoint with no --prompt.
  std::vector<int32_t> context = {bpe     ? std::max(0, bpe->eot())
                                  : words ? std::max(0, words->idOf("."))
                                          : std::max(0, tok.idOf('\n'))};
  SamplingOptions so{f.temperature, f.topK, f.seed};
  std::vector<int32_t> sampled;
  const int32_t vocab = bpe ? bpe->vocabSize() : words ? words->vocabSize() : tok.vocabSize();
  if (std::string e = sampler->sample(context, f.sampleChars, so, vocab, &sampled); !e.empty())
    return runError(e);
  context.insert(context.end(), sampled.begin(), sampled.end());
  IoResult<std::string> text = bpe     ? bpe->decode(context)
                               : words ? words->decode(context)
                                       : tok.decode(context);
  if (!text) return runError(text.error());
  std::printf("sample  (temperature %.2f%s, seed %llu)\n%s\n", f.temperature,
              f.topK ? fmt::format(", top-k {}", f.topK).c_str() : "",
              static_cast<unsigned long long>(f.seed), text->c_str());
  return 0;
}

/// The stages of a run, in order (TrainRun).
int train(TrainFlags f) {
  if (!f.positionalModel.empty()) f.model = f.positionalModel;
  if (std::string e = checkFlagValues(f); !e.empty()) return usageError(e);
  if (f.out.empty()) f.out = defaultRunDir(f.model);
  if (std::string e = mpi::init(); !e.empty()) return usageError(e);
  TrainRun run{std::move(f)};
  run.rank = mpi::world().rank, run.ranks = mpi::world().size;
  run.writer = run.rank == 0;
  if (!run.writer && !std::freopen("/dev/null", "w", stdout))
    return runError("cannot silence stdout");
  run.chooseConstants();
  if (int rc = run.readData(); rc != 0) return rc;
  if (int rc = run.compileEngines(); rc != 0) return rc;
  if (int rc = run.makeTrainer(); rc != 0) return rc;
  if (int rc = run.describeRun(); rc != 0) return rc;
  if (int rc = run.lockAndRestore(); rc != 0) return rc;
  if (int rc = run.openLog(); rc != 0) return rc;
  if (int rc = run.loop(); rc != 0) return rc;
  if (int rc = run.finish(); rc != 0) return rc;
  return run.sample();
}

} // namespace

int cmdTrain(int argc, char** argv) {
  CLI::App app{"gptc run [MODEL.graph] --train: train a model with the JIT (--interpret: the "
               "reference interpreter): a language model on a text file (its characters are the "
               "vocabulary, or its words when the model's card says vocab = words) or on llm.c "
               "token shards (gptc tokenize: GPT-2 BPE), or the seq2seq "
               "sorter on digit sequences it draws itself. With no other argument: "
               "models/chargpt.graph (L=4 C=128 NH=4 B=32 T=64) on data/tinyshakespeare.txt. "
               "With --tokens FILE it is the fixed-batch mode instead (see gptc run --train "
               "--tokens F --help)",
               "gptc run --train"};
  TrainFlags f;
  app.add_flag("--train", f.train, "train (this command)");
  app.add_option("model", f.positionalModel, "the model file (same as --model)")
      ->type_name("MODEL.graph");
  app.add_option("--model", f.model, "the model (default models/chargpt.graph)")
      ->type_name("MODEL.graph");
  app.add_option("-i,--data", f.data,
                 "a text file (characters, or words when the model's card says vocab = words; the "
                 "last 10% is validation) or an llm.c token shard X_train.bin (validation: "
                 "X_val.bin, else its last 10%); default: the card's data = NAME (data/NAME.txt), "
                 "else data/tinyshakespeare.txt")
      ->type_name("FILE");
  app.add_option("-x,--steps", f.steps, "optimizer steps (default 2000)")->type_name("N");
  addModelFlags(app, f.model_); // --set, -b/--batch (chargpt: 32), -t/--seq (chargpt: 64)
  addOptimizerFlags(app, f.opt);
  app.add_option("-v,--val-every", f.valEvery,
                 "validation loss every N steps (default 100; 0: end)")
      ->type_name("N");
  app.add_option("-m,--val-batches", f.valBatches, "batches per validation (default 8)")
      ->type_name("N");
  app.add_option("-o,--out", f.out, "output folder (default out/<model name>, e.g. out/chargpt)")
      ->type_name("DIR");
  app.add_option("--seed", f.seed, "seed of params, batches, dropout, sampling (default 1337)")
      ->type_name("N");
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
  app.add_option("--threads", f.threads,
                 "threads (default: OMP_NUM_THREADS, else the CPUs this process may use)")
      ->type_name("N");
  app.add_flag("--interpret", f.interpret, "run on the reference interpreter instead of the JIT");
  app.add_option("--sample", f.sampleChars, "characters to sample at the end (default 400)")
      ->type_name("N");
  app.add_option("--temperature", f.temperature, "sampling temperature (default 0.8; 0 = greedy)")
      ->type_name("X");
  app.add_option("--top-k", f.topK, "sample from the k most likely characters (default 0 = all)")
      ->type_name("K");
  app.add_option("--memory-budget", f.memoryBudget,
                 "plan the training step within SIZE bytes (3GiB, 800MiB): forward values are "
                 "recomputed in the backward to fit (bit-identical results)")
      ->type_name("SIZE");
  app.add_flag(
      "--fused-attention,!--no-fused-attention", f.fusedAttention,
      "attention as one fused op (online softmax, no T×T weights kept; the default, except "
      "with --trace); --no-fused-attention: the unfused ops");
  app.add_flag("--fused-lm-head", f.fusedLmHead,
               "the head and the loss as one op by chunks of rows, no [B·T, V] logits kept (not "
               "with --trace)");
  app.add_option("--zero", f.zero,
                 "under mpirun: 1 shards AdamW's moments over the ranks (ZeRO-1); 0 (default): "
                 "every rank keeps them whole")
      ->type_name("0|1");
  addTraceFlags(app, f.trace);
  if (int code = parseCommandLine(app, argc, argv, "run --train"); code >= 0) return code;
  // An explicit 0 is an error, not the default (tools/input_checks.h).
  if (std::string e = checkShapeFlags(app.count("--batch") > 0, f.model_.batch,
                                      app.count("--seq") > 0, f.model_.seq);
      !e.empty())
    return usageError(e);
  if (std::string e = checkThreadsFlag(f.threads); !e.empty()) return usageError(e);
  f.tokenizerGiven = app.count("--tokenizer") > 0;
  f.dataGiven = app.count("--data") > 0;
  int rc = train(std::move(f));
  // A rank that fails ends the job: the others may be waiting in a collective for it.
  if (rc != 0 && mpi::world().size > 1) mpi::abortJob(rc);
  return rc;
}

} // namespace gptc::tools
