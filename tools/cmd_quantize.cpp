// tools/cmd_quantize.cpp — `gptc quantize CKPT -o OUT --weights bf16|int8|int8-row`: a checkpoint
// whose contraction weights are stored quantized (gptc checkpoint version 2: `w.q` bf16, or i8 with
// `w.scale`; docs/file-formats.md), half or a quarter of the f32 bytes on disk. `gptc run
// --generate/--eval --weights W` reads it as it is (no rounding at load when W is the stored kind),
// and any other --weights (f32 included) from its dequantized values. `--weights f32` here writes
// a plain f32 checkpoint (version 1) back.
//
// Which weights are quantized is the quantize pass's decision (passes/quantize.cpp) on the model's
// inference graph; the numbers are runtime/formats/quantize.h's. The model and its --set come from
// the checkpoint's run card when it has one (a run's model.ckpt, whose pointer is followed), else
// from MODEL.graph (default models/gpt2.graph for an llm.c file). The run card is copied into OUT,
// so `gptc run --generate --init OUT` finds the model as it does for the original.
//
// What it leaves to others: the file format (runtime/formats/llmc_checkpoint.h), loading and
// dequantizing (runtime/formats/param_store.h), the pass (passes/quantize.cpp).
#include "tools/commands.h"
#include "tools/options.h"

#include "driver/driver.h"
#include "runtime/formats/llmc_checkpoint.h"
#include "runtime/formats/param_store.h"
#include "runtime/formats/quantize.h"
#include "runtime/formats/run_card.h"
#include "runtime/formats/weights_pointer.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>

namespace gptc::tools {
namespace {

int usageError(const std::string& message) {
  std::fprintf(stderr, "gptc quantize: %s\n", message.c_str());
  return 2;
}

/// The checkpoint's metadata without a pointer's `weights=` line (OUT holds the weights itself).
std::string metadataOf(const GptcCheckpoint& ck) {
  std::string out, line;
  for (size_t i = 0; i <= ck.metadata.size(); ++i) {
    if (i < ck.metadata.size() && ck.metadata[i] != '\n') {
      line += ck.metadata[i];
      continue;
    }
    if (!line.starts_with("weights=")) out += line + (i < ck.metadata.size() ? "\n" : "");
    line.clear();
  }
  return out;
}

} // namespace

int cmdQuantize(int argc, char** argv) {
  CLI::App app{"gptc quantize: a checkpoint with its weights stored bf16 or int8 (gptc checkpoint "
               "version 2), read by `gptc run --generate/--eval --weights W`",
               "gptc quantize"};
  std::string input, out, model, weights;
  std::vector<std::string> sets;
  app.add_option("checkpoint", input, "a gptc checkpoint (a run's model.ckpt) or an llm.c .bin")
      ->required()
      ->type_name("CKPT");
  app.add_option("-o,--out", out, "the quantized checkpoint to write")
      ->required()
      ->type_name("OUT");
  app.add_option("--weights", weights,
                 "bf16, int8 (blocks of 32, ggml's q8_0 rule), int8-row (a scale per row), or "
                 "f32 (back to a plain f32 checkpoint)")
      ->required()
      ->check(CLI::IsMember({"f32", "bf16", "int8", "int8-row"}));
  app.add_option("--model", model,
                 "the model (default: the checkpoint's run card; models/gpt2.graph for llm.c)")
      ->type_name("MODEL.graph");
  addSetFlag(app, sets);
  if (int code = parseCommandLine(app, argc, argv, "quantize"); code >= 0) return code;

  // The model and its sets: from the run card when the checkpoint has one.
  IoResult<FileReader> file = FileReader::open(input);
  if (!file) return usageError(file.error());
  uint8_t magic[8] = {};
  if (file->size() < 8 || !file->readAt(0, magic, 8))
    return usageError(input + ": too short to be a checkpoint");
  std::string metadata;
  std::vector<std::string> cardSets;
  std::string cardSource;
  if (!std::memcmp(magic, kGptcCheckpointMagic, 8)) {
    IoResult<GptcCheckpoint> ck = readGptcCheckpoint(input);
    if (!ck) return usageError(ck.error());
    metadata = metadataOf(*ck);
    if (IoResult<RunCard> card = RunCard::fromText(ck->metadata);
        card && (model.empty() || model == card->model)) {
      model = card->model;
      cardSets = card->sets;
      cardSource = card->modelSource;
    }
  } else if (loadI32(magic) == kLlmcModelMagic && model.empty()) {
    model = "models/gpt2.graph";
  }
  if (model.empty())
    return usageError(input + ": no run card says which model it holds; give --model MODEL.graph");
  cardSets.insert(cardSets.end(), sets.begin(), sets.end());

  ModelSource source = ModelSource::file(model);
  if (!cardSource.empty() && !readTextFile(model)) source.text = cardSource; // not here: as trained
  Expected<std::shared_ptr<ast::Program>> program = loadModel(source);
  if (!program) return usageError(program.error().render());
  ModelFlags mf;
  mf.sets = cardSets;
  Expected<ConstOverrides> overrides = constOverrides(mf, **program);
  if (!overrides) return usageError(overrides.error().render());

  // The params as the model declares them (f32), and which of them the quantize pass narrows.
  CompileRequest plain;
  plain.model = ModelSource::parsed(*program);
  plain.overrides = *overrides;
  plain.passes = {"expand"};
  Expected<CompiledProgram> f32 = compile(std::move(plain));
  if (!f32) return usageError(f32.error().render());
  IoResult<ParamMap> params = loadParams(f32->graph, input, /*keepQuantized=*/true);
  if (!params) return usageError(params.error());
  ParamMap narrow;
  if (weights != "f32") {
    CompileRequest q;
    q.model = ModelSource::parsed(*program);
    q.overrides = *overrides;
    q.pipeline = "inference";
    q.passOptions["quantize.weights"] = weights;
    q.stopAfter = "quantize";
    Expected<CompiledProgram> qg = compile(std::move(q));
    if (!qg) return usageError(qg.error().render());
    if (std::string e = quantizeParams(qg->graph, *params, &narrow); !e.empty())
      return usageError(e);
  }

  // Every f32 param once: as `w.q` (+ `w.scale`) when quantized, and as `w` unless the quantized
  // graph no longer reads it (GPT-2's embedding still reads f32 rows of wte).
  GptcCheckpoint ck;
  ck.metadata = metadata;
  int64_t bytes = 0, f32Bytes = 0;
  auto add = [&](const std::string& name, const Tensor& t) {
    NamedTensor nt{name, std::vector<int64_t>(t.type.shape.begin(), t.type.shape.end()), t.f};
    nt.dtype = t.type.dtype == DType::bf16 ? StoredDType::bf16
               : t.type.dtype == DType::i8 ? StoredDType::i8
                                           : StoredDType::f32;
    bytes += t.type.numel() * (nt.dtype == StoredDType::f32    ? 4
                               : nt.dtype == StoredDType::bf16 ? 2
                                                               : 1);
    ck.tensors.push_back(std::move(nt));
  };
  int quantized = 0;
  for (const Value& v : f32->graph.values) {
    if (v.kind != ValueKind::Param) continue;
    f32Bytes += v.type.numel() * 4;
    auto q = narrow.find(v.name + ".q");
    if (q == narrow.end() || narrow.count(v.name)) add(v.name, params->at(v.name));
    if (q == narrow.end()) continue;
    ++quantized;
    add(q->first, q->second);
    if (auto s = narrow.find(v.name + ".scale"); s != narrow.end()) add(s->first, s->second);
  }
  if (IoStatus st = writeGptcCheckpoint(out, ck); !st) return usageError(st.error());
  std::printf("wrote %s: %d weights %s, %zu tensors, %.1f MB (f32: %.1f MB)\n", out.c_str(),
              quantized, weights.c_str(), ck.tensors.size(), double(bytes) / 1e6,
              double(f32Bytes) / 1e6);
  return 0;
}

} // namespace gptc::tools
