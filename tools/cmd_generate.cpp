// tools/cmd_generate.cpp — `gptc run [MODEL.graph] --generate`: generation with the KV-cache
// decode step (runtime/generate/generator.h) on the JIT (or --interpret).
//
//   gptc run --generate --init out/chargpt/model.ckpt --prompt "ROMEO:" -n 200 --temperature 0.8
//   gptc run models/gpt2.graph --generate --init gpt2_124M.bin --prompt "Hello" --greedy
//   gptc run models/seq2seq.graph --generate --init out/sort/model.ckpt --src "3 9 1 4" [--beam 4]
//
// The model and its --set come from the checkpoint's metadata when it is a gptc checkpoint written
// by `gptc run --train` (later --set flags win); the tokenizer is the checkpoint's vocab.bin (char
// models) or vocab.words (a card's `vocab = words`, --prompt in words), the GPT-2 BPE files
// (--tokenizer DIR, default assets/gpt2_tokenizer) for gpt2.graph, or none with --prompt-ids.
// Tokens stream to stdout as they are produced; with several
// --prompt (a batch) each row is printed when the batch is done. --interactive reads one prompt
// per line until EOF. A prompt longer than the context is an error (no sliding window).
//
// What it leaves to others: the steps and the loop (runtime/generate/generator.h), beam search
// (runtime/generate/beam_search.h), tokenizers and checkpoints (runtime/).
#include "tools/generate_command.h"

#include "tools/options.h"

#include "driver/driver.h"
#include "runtime/formats/llmc_checkpoint.h"
#include "runtime/formats/param_store.h"
#include "runtime/formats/run_card.h"
#include "runtime/formats/safetensors.h"
#include "runtime/generate/beam_search.h"
#include "runtime/generate/generator.h"
#include "runtime/text/bpe_tokenizer.h"
#include "runtime/text/char_tokenizer.h"
#include "runtime/text/word_tokenizer.h"
#include "tools/input_checks.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <iostream>
#include <optional>
#include <sstream>
#include <time.h>
#include <utility>

namespace gptc::tools {
namespace {

/// CPU time of this process so far (all threads), in ms: on a shared machine where the process
/// may lose its core (or be stopped) mid-run, a 1-thread run's CPU time is what the work cost.
double processCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) * 1e-6;
}

struct GenFlags {
  std::string model;
  bool generate = false, greedy = false, interactive = false, interpret = false;
  std::string init, vocab, tokenizer, src;
  std::vector<std::string> prompts;
  std::string promptIds;
  int64_t n = 200;
  double temperature = 1.0, topP = 1.0;
  int topK = 0;
  uint64_t seed = 1337;
  int numSamples = 1;
  int threads = 0;
  int beam = 0;
  int evalSort = 0; // seq2seq: exact-match accuracy on this many random sequences
  bool stats = false;
  std::vector<std::string> sets;
  std::string weights = "f32"; // --weights: f32 | bf16 | int8 (passes/quantize.h)
};

int usageError(const std::string& message) {
  std::fprintf(stderr, "gptc run --generate: %s\n", message.c_str());
  return 2;
}
int runError(const std::string& message) {
  std::fprintf(stderr, "gptc run --generate: %s\n", message.c_str());
  return 1;
}

/// Text <-> ids for the model at hand.
struct Codec {
  std::optional<CharTokenizer> chars;
  std::optional<WordTokenizer> words; // the card's `vocab = words`: one word a token
  std::optional<BpeTokenizer> bpe;
  int32_t digit0 = -1; // vocab = digits: the digits 0-9 are ids digit0..digit0+9 (the card's)
  mutable bool lineStart = true; // words: no space before a line's first word (startLine())
  void startLine() const { lineStart = true; }
  IoResult<std::vector<int32_t>> encode(const std::string& s) const {
    if (chars) return chars->encode(s);
    if (words) return words->encode(s);
    if (bpe) return bpe->encode(s);
    if (digit0 >= 0) return ioError("prompt", "an encoder-decoder model reads --src \"3 9 1 4\"");
    return ioError("prompt", "this model has no tokenizer; give --prompt-ids");
  }
  std::string piece(int32_t id) const {
    if (chars) {
      IoResult<std::string> s = chars->decode(std::span<const int32_t>(&id, 1));
      return s ? *s : "?";
    }
    if (words) { // words joined by single spaces, as the trainer's sample prints them
      std::string w = id >= 0 && id < words->vocabSize() ? words->words()[size_t(id)] : "?";
      return std::exchange(lineStart, false) ? w : " " + w;
    }
    if (bpe) {
      IoResult<std::string> s = bpe->tokenBytes(id);
      return s ? *s : "?";
    }
    if (digit0 >= 0)
      return id >= digit0 && id < digit0 + 10 ? std::to_string(id - digit0) + " " : "";
    return std::to_string(id) + " ";
  }
};

/// What generation needs, worked out stage by stage by cmdGenerate: each stage returns 0 to go
/// on, else the process's exit code (it has printed why).
struct GenRun {
  GenFlags f;
  std::string trained; // the checkpoint `gptc run --train` writes for this model by default
  // readCheckpointCard
  std::vector<std::string> sets;
  std::optional<RunCard> trainedCard;
  // readModel
  std::shared_ptr<ast::Program> program;
  ModelCard card;
  bool seq2seq = false, gpt2 = false;
  int32_t sos = -1, pad = -1, digit0 = -1, eos = -1;
  ConstOverrides overrides;
  std::optional<CompiledProgram> expanded; // the model as written: its parameters' shapes
  // makeCodec
  Codec codec;
  int64_t vocab = 0;
  // readPrompts
  std::vector<std::vector<int32_t>> prompts;
  std::vector<int32_t> srcIds;
  // makeGenerator
  GeneratorConfig cfg;
  std::unique_ptr<Generator> gen;
  SamplingOptions so;

  const Graph& full() const { return expanded->graph; }

  /// The values of the flags, before anything is read.
  int checkFlags(const CLI::App& app);
  /// --init (default: the trainer's checkpoint) and the model and --set its run card names.
  int readCheckpointCard();
  /// The model's source (the checkpoint's when the file is gone or edited), card and constants.
  int readModel();
  /// The tokenizer the card names.
  int makeCodec();
  /// --prompt-ids, --prompt, --src, or the card's start token.
  int readPrompts();
  /// The generator's steps and weights.
  int makeGenerator();
  /// seq2seq: encode once, then greedy or beam (--src, --eval-sort).
  int runSeq2seq();
  /// A language model: the prompts, or one per line of stdin with --interactive.
  int runLanguageModel();

  /// Sorts `digits` (their ids): greedy (beams 0) or beam search; the ids up to EOS.
  std::string sortIds(const std::vector<int32_t>& digits, int beams, int64_t S,
                      const std::vector<int32_t>& banned, std::vector<int32_t>* outIds);
  /// --eval-sort: exact-match accuracy on random sources.
  int evalSort(int64_t S, const std::vector<int32_t>& banned);
  /// "" or why the prompts `ps` do not fit the context or the vocabulary.
  std::string checkContext(const std::vector<std::vector<int32_t>>& ps) const;
  /// Generates --num-samples continuations of the prompts `ps` and prints them.
  int generateFrom(const std::vector<std::vector<int32_t>>& ps);
};

int GenRun::checkFlags(const CLI::App& app) {
  if (f.n < 0) return usageError(fmt::format("-n must be >= 0, got {}", f.n));
  if (f.numSamples < 1) return usageError("--num-samples must be >= 1");
  // tools/input_checks.h: the values the trainer refuses are refused here too.
  for (const std::string& e :
       {checkSamplingFlags(f.temperature, f.greedy, f.topK, f.topP),
        checkBeamFlag(app.count("--beam") > 0, f.beam), checkThreadsFlag(f.threads),
        f.evalSort < 0 ? fmt::format("--eval-sort must be >= 0, got {}", f.evalSort)
                       : std::string()})
    if (!e.empty()) return usageError(e);
  return 0;
}

int GenRun::readCheckpointCard() {
  // No --init: the checkpoint the trainer writes for this model by default, so `gptc run --train`
  // then `gptc run --generate --prompt "ROMEO:"` samples from what was trained.
  trained = (std::filesystem::path(defaultRunDir(f.model.empty() ? kDefaultModel : f.model)) /
             "model.ckpt")
                .string();
  if (f.init.empty() && std::filesystem::exists(trained)) {
    f.init = trained;
    std::fprintf(stderr, "note: weights from %s (the last `gptc run --train`; --init to choose)\n",
                 f.init.c_str());
  }

  // The checkpoint says which model and sets it was trained with (its run card).
  if (!f.init.empty()) {
    if (!std::filesystem::exists(f.init)) return usageError(f.init + ": no such checkpoint");
    IoResult<FileReader> file = FileReader::open(f.init);
    if (!file) return usageError(file.error());
    char magic[8] = {};
    const bool readable = file->size() >= 8 && file->readAt(0, magic, 8);
    // Neither gptc's nor llm.c's magic: say so before the model's own errors can hide it.
    if (!f.init.ends_with(".safetensors") &&
        !(readable && (!std::memcmp(magic, kGptcCheckpointMagic, 8) ||
                       loadI32(reinterpret_cast<const uint8_t*>(magic)) == kLlmcModelMagic)))
      return usageError(
          f.init + ": not a checkpoint (" +
          (file->size() < 8 ? std::string("truncated or empty") : std::string("unknown magic")) +
          "; expected gptc's or llm.c's)");
    if (readable && !std::memcmp(magic, kGptcCheckpointMagic, 8)) {
      IoResult<GptcCheckpoint> ck = readGptcCheckpoint(f.init);
      if (!ck) return usageError(ck.error());
      IoResult<RunCard> rc = RunCard::fromText(ck->metadata);
      if (rc && (f.model.empty() || f.model == rc->model)) {
        f.model = rc->model;
        sets = rc->sets;
        trainedCard = std::move(*rc);
      }
    }
  }
  if (f.model.empty()) f.model = sourceTreePath(kDefaultModel); // from any folder
  sets.insert(sets.end(), f.sets.begin(), f.sets.end());
  return 0;
}

int GenRun::readModel() {
  // The model: its file, or the source the checkpoint carries when the file is not here (another
  // folder) -- and a note when the file was edited since the checkpoint was written.
  ModelSource source = ModelSource::file(f.model);
  if (trainedCard && !trainedCard->modelSource.empty()) {
    Expected<std::string> text = readTextFile(f.model);
    if (!text) {
      source.text = trainedCard->modelSource;
      std::fprintf(stderr, "note: %s is not here; the model source stored in %s\n", f.model.c_str(),
                   f.init.c_str());
    } else if (modelSourceHash(*text) != trainedCard->modelHash) {
      std::fprintf(stderr,
                   "note: %s was edited since %s was trained; generating with the model as "
                   "trained (its source is in the checkpoint)\n",
                   f.model.c_str(), f.init.c_str());
      source.text = trainedCard->modelSource;
    }
  }
  Expected<std::shared_ptr<ast::Program>> p = loadModel(source);
  if (!p) return usageError(p.error().render());
  program = *p;
  if (std::optional<Diag> e = checkModelNotEmpty(*program)) return usageError(e->render());
  // What the model is (its `card` lines, driver/model_card.h): no file names, no token ids here.
  Expected<ModelCard> c = readModelCard(*program);
  if (!c) return usageError(c.error().render());
  card = *c;
  seq2seq = card.seq2seq(), gpt2 = card.vocab == "gpt2_bpe";
  sos = int32_t(card.id("sos")), pad = int32_t(card.id("pad"));
  digit0 = int32_t(card.id("digit0"));
  ModelFlags mf;
  mf.sets = sets;
  Expected<ConstOverrides> o = constOverrides(mf, *program);
  if (!o) return usageError(o.error().render());
  overrides = *o;
  // The model as written (its parameters' shapes, for loading weights).
  CompileRequest expandOnly;
  expandOnly.model = ModelSource::parsed(program);
  expandOnly.overrides = overrides;
  expandOnly.passes = {"expand"};
  Expected<CompiledProgram> e = compile(std::move(expandOnly));
  if (!e) return usageError(e.error().render());
  expanded = std::move(*e);
  return 0;
}

int GenRun::makeCodec() {
  eos = int32_t(card.id("eos"));
  if (card.vocab == "digits") {
    codec.digit0 = digit0;
  } else if (gpt2) {
    std::string dir = f.tokenizer.empty() ? assetPath("gpt2_tokenizer") : f.tokenizer;
    if (f.promptIds.empty()) {
      IoResult<BpeTokenizer> t = BpeTokenizer::loadDir(dir);
      if (!t) return usageError(t.error());
      codec.bpe.emplace(std::move(*t));
    }
    IoResult<Gpt2Config> c = gpt2ConfigOf(full());
    if (c) vocab = c->V;
  } else {
    // Characters (vocab.bin) or, when the card says `vocab = words`, words (vocab.words): the
    // file the trainer wrote beside the checkpoint (runtime/text/*_tokenizer.h).
    const bool wordVocab = card.vocab == "words";
    const char* file = wordVocab ? "vocab.words" : "vocab.bin";
    std::string path = f.vocab;
    if (path.empty() && !f.init.empty())
      path = (std::filesystem::path(f.init).parent_path() / file).string();
    if (path.empty() && f.promptIds.empty() && (!f.prompts.empty() || f.interactive))
      return usageError(fmt::format("no {} vocabulary to encode the prompt: run `gptc run "
                                    "--train` first (it writes {} and {}), or give --init "
                                    "or --vocab",
                                    wordVocab ? "word" : "character", trained, file));
    if (!path.empty() && f.promptIds.empty()) {
      if (wordVocab) {
        IoResult<WordTokenizer> t = WordTokenizer::load(path);
        if (!t) return usageError(t.error());
        codec.words.emplace(std::move(*t));
        vocab = codec.words->vocabSize();
      } else {
        IoResult<CharTokenizer> t = CharTokenizer::load(path);
        if (!t) return usageError(t.error());
        codec.chars.emplace(std::move(*t));
        vocab = codec.chars->vocabSize();
      }
    }
  }
  return 0;
}

int GenRun::readPrompts() {
  if (!f.promptIds.empty()) {
    // Ids separated by spaces or commas ("464 3616" or "464,3616"); every character of a word must
    // be part of the number: std::stoi would read "1,2,3" as the one token 1.
    std::string list = f.promptIds;
    std::replace(list.begin(), list.end(), ',', ' ');
    std::istringstream ss(list);
    std::vector<int32_t> ids;
    for (std::string w; ss >> w;) {
      int32_t id = 0;
      auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), id);
      if (ec != std::errc() || end != w.data() + w.size() || id < 0)
        return usageError(fmt::format("--prompt-ids: '{}' is not a token id", w));
      ids.push_back(id);
    }
    prompts.push_back(ids);
  }
  for (const std::string& p : f.prompts) {
    IoResult<std::vector<int32_t>> ids = codec.encode(p);
    if (!ids) return usageError("--prompt: " + ids.error());
    prompts.push_back(*ids);
  }
  if (seq2seq && f.evalSort > 0) f.src = "0"; // evalSort draws its own sources
  if (seq2seq) {
    if (f.src.empty()) return usageError("seq2seq needs --src \"3 9 1 4\" (digits 0-9)");
    if (card.vocab != "digits")
      return usageError("--src reads digits; this seq2seq model's card says vocab = " + card.vocab);
    std::istringstream ss(f.src);
    for (std::string w; ss >> w;) {
      if (w.size() != 1 || w[0] < '0' || w[0] > '9')
        return usageError(fmt::format("--src: '{}' is not a digit 0-9", w));
      srcIds.push_back(int32_t(w[0] - '0' + digit0));
    }
    prompts = {{sos}};
  } else if (prompts.empty() && !f.interactive) {
    if (vocab == 0 && !codec.bpe)
      prompts = {{0}};
    else if (codec.bpe)
      prompts = {{int32_t(card.id("eot", codec.bpe->eot()))}};
    else if (codec.words) // a sentence's end, as the trainer's sample starts
      prompts = {{std::max(0, codec.words->idOf("."))}};
    else
      prompts = {{codec.chars->encode("\n") ? (*codec.chars->encode("\n"))[0] : 0}};
  }
  return 0;
}

int GenRun::makeGenerator() {
  cfg.engine = f.interpret ? Engine::Interpreter : Engine::Jit;
  cfg.threads = f.threads;
  cfg.batch = seq2seq ? std::max(1, f.beam) : std::max<int64_t>(1, int64_t(prompts.size()));
  cfg.prefill = !f.interactive; // a prefill compiles per prompt length; interactive lines vary
  cfg.weights = f.weights;
  cfg.tokenInput = card.tokenInput;
  // The KV cache sized to the request (the longest prompt plus -n, rounded up to 64 positions)
  // rather than the model's whole context: the decode step's scores read every cache row, so a
  // short generation then streams the rows it can use, not all 1024 of GPT-2 (37.7 MB per token).
  // decode-step clamps it to the model's context; --interactive keeps the model's.
  if (!seq2seq && !f.interactive) {
    size_t longest = 0;
    for (const std::vector<int32_t>& p : prompts)
      longest = std::max(longest, p.size());
    cfg.context = (int64_t(longest) + f.n + 63) / 64 * 64;
  }
  if (seq2seq) cfg.cut = {card.memory};
  auto t0 = std::chrono::steady_clock::now();
  std::string err;
  gen = Generator::create(program, overrides, cfg, &err);
  if (!gen) return runError(err);
  if (f.init.empty()) {
    std::fprintf(stderr, "note: no --init, random weights (seed %llu)\n",
                 static_cast<unsigned long long>(f.seed));
    if (std::string e = gen->initParams(f.seed); !e.empty()) return runError(e);
  } else {
    IoResult<ParamMap> params = IoResult<ParamMap>(ioError(f.init, "unread"));
    if (f.init.ends_with(".safetensors")) {
      IoResult<Gpt2Config> c = gpt2ConfigOf(full());
      if (!c) return usageError(f.init + ": " + c.error());
      IoResult<Gpt2Weights> w = loadHuggingFaceGpt2(f.init, c->NH, c->Vp);
      if (!w) return usageError(w.error());
      params = paramsFromTensors(full(), std::move(w->tensors), f.init);
    } else {
      params = loadParams(full(), f.init, /*keepQuantized=*/true); // stored w.q as they are
    }
    if (!params) return usageError(params.error());
    if (std::string e = gen->setParams(*params); !e.empty()) return runError(e);
  }
  double setupMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (f.stats)
    std::fprintf(stderr, "setup %.0f ms (compile %.0f ms), context %lld, batch %lld\n", setupMs,
                 gen->compileMs(), static_cast<long long>(gen->context()),
                 static_cast<long long>(gen->batch()));

  so.temperature = f.greedy ? 0 : f.temperature;
  so.topK = f.topK;
  so.topP = f.topP;
  return 0;
}

std::string GenRun::sortIds(const std::vector<int32_t>& digits, int beams, int64_t S,
                            const std::vector<int32_t>& banned, std::vector<int32_t>* outIds) {
  Tensor src(TensorType{DType::i32, {cfg.batch, S}});
  for (int64_t r = 0; r < cfg.batch; ++r) {
    std::copy(digits.begin(), digits.end(), src.i.begin() + r * S);
    src.i[r * S + int64_t(digits.size())] = eos; // then PAD
    for (int64_t k = int64_t(digits.size()) + 1; k < S; ++k)
      src.i[r * S + k] = std::max(pad, 0);
  }
  if (std::string e = gen->encode(src); !e.empty()) return e;
  if (beams > 0) {
    BeamOptions bo;
    bo.beams = beams;
    bo.maxNew = gen->context() - 1;
    bo.sos = sos;
    bo.eos = eos;
    bo.banned = banned;
    return beamSearch(*gen, bo, outIds);
  }
  GenerateRequest req;
  req.prompts = {{sos}};
  req.maxNew = gen->context() - 1;
  req.sampling.temperature = 0;
  req.eos = eos;
  req.banned = banned;
  std::vector<std::vector<int32_t>> out;
  if (std::string e = generate(*gen, req, {}, &out); !e.empty()) return e;
  *outIds = out[0];
  return "";
}

int GenRun::evalSort(int64_t S, const std::vector<int32_t>& banned) {
  // Random sources from their own stream (not the trainer's batches): length uniform in
  // 1..min(10, S-1), digits uniform; exact match = every digit and the final EOS right.
  SampleRng rng(f.seed ^ 0x5eed50f7ull);
  int64_t maxLen = std::min<int64_t>(10, S - 1), right = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < f.evalSort; ++i) {
    int64_t len = 1 + int64_t(rng.next() % uint64_t(maxLen));
    std::vector<int32_t> digits(static_cast<size_t>(len));
    for (int32_t& d : digits)
      d = int32_t(digit0 + int32_t(rng.next() % 10));
    std::vector<int32_t> want = digits, got;
    std::sort(want.begin(), want.end());
    want.push_back(eos);
    if (std::string e = sortIds(digits, f.beam, S, banned, &got); !e.empty()) return runError(e);
    right += got == want;
  }
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string how = f.beam > 0 ? fmt::format("beam {}", f.beam) : "greedy";
  std::printf("%s: %lld / %d sequences exactly sorted (%.2f%%), lengths 1-%lld, seed %llu, "
              "%.1f s\n",
              how.c_str(), static_cast<long long>(right), f.evalSort,
              100.0 * double(right) / f.evalSort, static_cast<long long>(maxLen),
              static_cast<unsigned long long>(f.seed), sec);
  return 0;
}

int GenRun::runSeq2seq() {
  const Graph& d = gen->decodeEngine().graph();
  int srcId = d.find(card.sourceInput);
  int64_t S = srcId >= 0 ? d.type(srcId).shape[1] : 0;
  if (int64_t(srcIds.size()) + 1 > S)
    return usageError(
        fmt::format("--src has {} digits; the model takes at most {}", srcIds.size(), S - 1));
  // Never generated: PAD and SOS, when the card declares them.
  std::vector<int32_t> banned;
  for (int32_t id : {pad, sos})
    if (id >= 0) banned.push_back(id);
  if (f.evalSort > 0) return evalSort(S, banned);
  std::vector<int32_t> outIds;
  if (std::string e = sortIds(srcIds, f.beam, S, banned, &outIds); !e.empty()) return runError(e);
  std::string line;
  for (int32_t id : outIds)
    if (id >= digit0 && id < digit0 + 10)
      line += (line.empty() ? "" : " ") + std::to_string(id - digit0);
  std::printf("%s\n", line.c_str());
  return 0;
}

std::string GenRun::checkContext(const std::vector<std::vector<int32_t>>& ps) const {
  for (const auto& p : ps) {
    if (p.empty()) return "the prompt is empty";
    if (int64_t(p.size()) > gen->context())
      return fmt::format("the prompt has {} tokens but the model's context is {} (no sliding "
                         "window: shorten the prompt)",
                         p.size(), gen->context());
    if (int64_t(p.size()) + f.n > gen->context())
      return fmt::format("the prompt ({} tokens) and -n {} need {} positions but the model's "
                         "context is {} (no sliding window: use -n {} or less)",
                         p.size(), f.n, int64_t(p.size()) + f.n, gen->context(),
                         gen->context() - int64_t(p.size()));
  }
  for (const auto& p : ps)
    for (int32_t id : p)
      if (id < 0 || id >= (vocab ? vocab : gen->logitsWidth()))
        return fmt::format("token id {} is outside the vocabulary of {}", id,
                           vocab ? vocab : gen->logitsWidth());
  return "";
}

int GenRun::generateFrom(const std::vector<std::vector<int32_t>>& ps) {
  if (std::string e = checkContext(ps); !e.empty()) return usageError(e);
  for (int s = 0; s < f.numSamples; ++s) {
    GenerateRequest req;
    req.prompts = ps;
    req.maxNew = f.n;
    req.sampling = so;
    req.sampling.seed = f.seed + uint64_t(s) * uint64_t(cfg.batch);
    req.vocab = vocab;
    bool stream = ps.size() == 1;
    if (f.numSamples > 1) std::printf("--- sample %d\n", s + 1);
    if (stream) {
      codec.startLine();
      for (int32_t id : ps[0])
        std::fputs(codec.piece(id).c_str(), stdout);
      std::fflush(stdout);
    }
    std::vector<std::vector<int32_t>> out;
    auto g0 = std::chrono::steady_clock::now();
    double cpu0 = processCpuMs();
    double compile0 = gen->compileMs();
    std::string e = generate(
        *gen, req,
        [&](int64_t row, int32_t id) {
          if (!stream) return;
          std::fputs(codec.piece(id).c_str(), stdout);
          std::fflush(stdout);
        },
        &out);
    // A prefill step compiles on the first use of a prompt length; that is not generating.
    double compiled = gen->compileMs() - compile0;
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - g0).count() -
        compiled;
    double cpu = processCpuMs() - cpu0;
    if (!e.empty()) return runError(e);
    if (stream) std::printf("\n");
    for (size_t r = 0; !stream && r < out.size(); ++r) {
      std::printf("--- prompt %zu\n", r + 1);
      codec.startLine();
      for (int32_t id : ps[r])
        std::fputs(codec.piece(id).c_str(), stdout);
      for (int32_t id : out[r])
        std::fputs(codec.piece(id).c_str(), stdout);
      std::printf("\n");
    }
    std::fflush(stdout); // the text before the stats line when both go to one terminal or pipe
    if (f.stats)
      std::fprintf(stderr,
                   "generated %lld x %zu tokens in %.1f ms: %.1f tokens/s per row (plus %.0f ms "
                   "compiling a prefill step; process CPU %.1f ms, compiling included)\n",
                   static_cast<long long>(f.n), out.size(), ms, ms > 0 ? f.n * 1000.0 / ms : 0,
                   compiled, cpu);
  }
  return 0;
}

int GenRun::runLanguageModel() {
  if (f.beam > 0) return usageError("--beam is for encoder-decoder models (card task = seq2seq)");
  if (!f.interactive) return generateFrom(prompts);
  for (std::string line; std::getline(std::cin, line);) {
    std::vector<std::vector<int32_t>> ps;
    if (!f.promptIds.empty()) {
      std::istringstream ss(line);
      std::vector<int32_t> ids;
      for (int32_t id; ss >> id;)
        ids.push_back(id);
      ps.push_back(ids);
    } else {
      IoResult<std::vector<int32_t>> ids = codec.encode(line);
      if (!ids) {
        std::fprintf(stderr, "gptc run --generate: %s\n", ids.error().c_str());
        continue; // one bad line does not end the session
      }
      ps.push_back(*ids);
    }
    if (ps[0].empty()) continue;
    if (std::string e = checkContext(ps); !e.empty()) {
      std::fprintf(stderr, "gptc run --generate: %s\n", e.c_str());
      continue;
    }
    if (int rc = generateFrom(ps); rc != 0) return rc;
    std::fflush(stdout);
  }
  return 0;
}

} // namespace

int cmdGenerate(int argc, char** argv) {
  CLI::App app{"gptc run --generate: generate from a model with a KV-cache decode step (JIT)",
               "gptc run --generate"};
  GenRun run;
  GenFlags& f = run.f;
  app.add_option("model", f.model, "the model (default: from the checkpoint, else chargpt)");
  app.add_flag("--generate", f.generate, "generate (this command)");
  app.add_option("--init", f.init,
                 "checkpoint: gptc (GPTCCKPT), llm.c .bin or .safetensors; none: "
                 "seeded random weights");
  app.add_option("--vocab", f.vocab,
                 "the char vocabulary (default: vocab.bin beside --init), or the word vocabulary "
                 "when the model's card says vocab = words (default: vocab.words beside --init)");
  app.add_option(
      "--tokenizer", f.tokenizer,
      "GPT-2 BPE directory (encoder.json, vocab.bpe; default assets/gpt2_tokenizer, found beside "
      "the binary or in the source tree)");
  app.add_option("--prompt", f.prompts, "prompt text; repeat for a batch (one row each)");
  app.add_option("--prompt-ids", f.promptIds, "prompt as token ids, separated by spaces or commas");
  app.add_option("--src", f.src, "seq2seq: the source digits, e.g. \"3 9 1 4\"");
  app.add_option("-n,--tokens-out", f.n, "new tokens per sample (default 200)");
  app.add_option("--temperature", f.temperature, "softmax temperature (default 1.0)");
  app.add_option("--top-k", f.topK, "keep the k most likely tokens (0 = all)");
  app.add_option("--top-p", f.topP, "nucleus: keep the most likely tokens holding p (1 = all)");
  app.add_option("--seed", f.seed, "sampling seed (sample i uses seed + i; default 1337)");
  app.add_option("--num-samples", f.numSamples, "samples per prompt (default 1)");
  app.add_flag("--greedy", f.greedy, "argmax instead of sampling");
  app.add_flag("--interactive", f.interactive, "read a prompt per line from stdin until EOF");
  app.add_option("--beam", f.beam, "seq2seq: beam search with N beams (length-normalised)");
  app.add_option("--eval-sort", f.evalSort,
                 "seq2seq: sort N random digit sequences (lengths 1-10, seeded by --seed) greedily "
                 "and with --beam, print exact-match accuracy");
  app.add_option("--threads", f.threads,
                 "threads (default: OMP_NUM_THREADS, else the CPUs this process may use)");
  app.add_flag("--interpret", f.interpret, "the reference interpreter instead of the JIT");
  app.add_flag("--stats", f.stats, "print timings (compile, prefill, tokens/s) to stderr");
  app.add_option("--weights", f.weights,
                 "weights f32 | bf16 | int8 (quantized at load; default f32)")
      ->check(CLI::IsMember({"f32", "bf16", "int8", "int8-row"}));
  addSetFlag(app, f.sets); // B and T are the generator's: the prompts' count and the cache
  if (int code = parseCommandLine(app, argc, argv, "run --generate"); code >= 0) return code;
  if (int rc = run.checkFlags(app); rc != 0) return rc;
  if (int rc = run.readCheckpointCard(); rc != 0) return rc;
  if (int rc = run.readModel(); rc != 0) return rc;
  if (int rc = run.makeCodec(); rc != 0) return rc;
  if (int rc = run.readPrompts(); rc != 0) return rc;
  if (int rc = run.makeGenerator(); rc != 0) return rc;
  return run.seq2seq ? run.runSeq2seq() : run.runLanguageModel();
}

} // namespace gptc::tools
