// Binding checkpoints to a graph's parameters (see param_store.h): derive the sizes a GPT-2 graph
// implies, compare them with an llm.c header before reading weights, check every tensor's shape
// against the graph's declaration, and hand the interpreter typed tensors. It leaves reading and
// validating the file formats to runtime/formats/llmc_checkpoint.cpp.
#include "runtime/formats/param_store.h"

#include "runtime/formats/quantize.h"
#include "runtime/formats/weights_pointer.h"

#include <cstring>
#include <fmt/format.h>

namespace gptc {
namespace {

/// The declared shape of param `name`, or nullptr when the graph has no such param.
const Shape* paramShape(const Graph& g, const char* name) {
  int id = g.find(name);
  return id >= 0 && g.values[id].kind == ValueKind::Param ? &g.values[id].type.shape : nullptr;
}

bool fitsI32(int64_t v) {
  return v > 0 && v <= INT32_MAX;
}

} // namespace

IoResult<Gpt2Config> gpt2ConfigOf(const Graph& g) {
  const Shape *wte = paramShape(g, "wte"), *wpe = paramShape(g, "wpe"),
              *ln1w = paramShape(g, "ln1w");
  const char* missing = !wte ? "wte" : !wpe ? "wpe" : !ln1w ? "ln1w" : nullptr;
  if (missing)
    return IoError{fmt::format("the model is not GPT-2 shaped: it has no parameter '{}'", missing)};
  if (wte->size() != 2 || wpe->size() != 2 || ln1w->size() != 2)
    return IoError{"the model is not GPT-2 shaped: wte, wpe and ln1w must be 2-D"};
  Gpt2Config c;
  int64_t Vp = (*wte)[0], C = (*wte)[1], maxT = (*wpe)[0], L = (*ln1w)[0], NH = 0, V = 0;
  for (const Node& n : g.nodes) {
    if (n.kind == OpKind::SplitHeads && NH == 0) NH = attrInt(n.attrs, "heads");
    if (n.kind == OpKind::CrossEntropy && V == 0) {
      int64_t classes = attrInt(n.attrs, "classes");
      V = classes == 0 ? g.type(n.operands[0]).shape.back() : classes;
    }
  }
  if (NH == 0) return IoError{"the model is not GPT-2 shaped: no split_heads op gives NH"};
  if (V == 0) V = Vp; // no loss in this graph: every row of wte is a class
  for (int64_t v : {Vp, C, maxT, L, NH, V})
    if (!fitsI32(v)) return IoError{"the model's GPT-2 sizes do not fit llm.c's int32 header"};
  c.Vp = int32_t(Vp), c.C = int32_t(C), c.maxT = int32_t(maxT), c.L = int32_t(L);
  c.NH = int32_t(NH), c.V = int32_t(V);
  return c;
}

namespace {

DType dtypeOf(StoredDType d) {
  return d == StoredDType::bf16 ? DType::bf16 : d == StoredDType::i8 ? DType::i8 : DType::f32;
}

/// The f32 param `v` from a stored `v.q` (bf16: exactly; i8: q · its block's scale from
/// `v.scale`), or why not. `q` is the stored `v.q`; `byName` holds the file's tensors.
IoResult<Tensor> dequantizeStored(const Value& v, const NamedTensor& q,
                                  const std::map<std::string, NamedTensor*>& byName,
                                  std::string_view where) {
  if (Shape(q.shape) != v.type.shape || q.shape.empty() || q.dtype == StoredDType::f32)
    return ioError(where, fmt::format("tensor '{}.q' is {}{} but the model declares '{}' {}",
                                      v.name, dtypeName(dtypeOf(q.dtype)), shapeToString(q.shape),
                                      v.name, typeToString(v.type)));
  Tensor out(v.type);
  if (q.dtype == StoredDType::bf16) {
    out.f = q.data;
    return out;
  }
  auto sc = byName.find(v.name + ".scale");
  const int64_t k = q.shape.empty() ? 0 : q.shape.back();
  if (sc == byName.end())
    return ioError(where,
                   fmt::format("tensor '{}.q' is i8 but '{}.scale' is missing", v.name, v.name));
  const NamedTensor& s = *sc->second;
  std::vector<int64_t> rows(q.shape.begin(), q.shape.end() - 1), srows(s.shape);
  const int64_t blocks = s.shape.empty() ? 0 : s.shape.back();
  if (!srows.empty()) srows.pop_back();
  if (s.dtype != StoredDType::f32 || srows != rows || blocks <= 0 || k % blocks != 0)
    return ioError(where, fmt::format("tensor '{}.scale' {} does not fit '{}.q' {}", v.name,
                                      shapeToString(s.shape), v.name, shapeToString(q.shape)));
  dequantizeQ8(q.data.data(), v.type.numel() / k, k, k / blocks, s.data.data(), out.f.data());
  return out;
}

} // namespace

IoResult<ParamMap> paramsFromTensors(const Graph& g, std::vector<NamedTensor> tensors,
                                     std::string_view where, bool keepQuantized) {
  std::map<std::string, NamedTensor*> byName;
  for (NamedTensor& t : tensors)
    byName[t.name] = &t;
  ParamMap out;
  for (const Value& v : g.values) {
    if (v.kind != ValueKind::Param && v.kind != ValueKind::State) continue;
    auto it = byName.find(v.name);
    if (it == byName.end() && v.kind == ValueKind::Param && v.type.dtype == DType::f32) {
      // A quantized checkpoint stores `w.q` (and `w.scale`) instead of `w`.
      if (auto q = byName.find(v.name + ".q"); q != byName.end()) {
        IoResult<Tensor> w = dequantizeStored(v, *q->second, byName, where);
        if (!w) return w.ioError();
        out.emplace(v.name, std::move(*w));
        continue;
      }
    }
    if (it == byName.end()) {
      if (v.kind == ValueKind::State) continue; // state may start from its init
      return ioError(where,
                     fmt::format("no tensor for parameter '{}' {}", v.name, typeToString(v.type)));
    }
    NamedTensor& t = *it->second;
    if (v.type.dtype != dtypeOf(t.dtype) || Shape(t.shape) != v.type.shape)
      return ioError(where, fmt::format("tensor '{}' is {}{} but the model declares {}", v.name,
                                        dtypeName(dtypeOf(t.dtype)), shapeToString(t.shape),
                                        typeToString(v.type)));
    Tensor value;
    value.type = v.type;
    value.f = std::move(t.data);
    out.emplace(v.name, std::move(value));
  }
  if (keepQuantized) // the stored `w.q` / `w.scale` of g's f32 params, for quantizeParams
    for (NamedTensor& t : tensors) {
      const std::string& n = t.name;
      const size_t tail = n.ends_with(".q") ? 2 : n.ends_with(".scale") ? 6 : 0;
      if (tail == 0 || out.count(n) || t.data.empty()) continue;
      int src = g.find(n.substr(0, n.size() - tail));
      if (src < 0 || g.values[src].kind != ValueKind::Param) continue;
      Tensor value;
      value.type = TensorType{dtypeOf(t.dtype), Shape(t.shape)};
      value.f = std::move(t.data);
      out.emplace(n, std::move(value));
    }
  return out;
}

IoResult<ParamMap> loadLlmcParams(const Graph& g, const std::string& path) {
  IoResult<Gpt2Config> inModel = gpt2ConfigOf(g);
  if (!inModel) return ioError(path, inModel.error());
  // The header alone first: a checkpoint of another size is one line, before 500 MB are read.
  IoResult<Gpt2Config> inFile = readLlmcHeader(path);
  if (!inFile) return inFile.ioError();
  if (IoStatus st = checkConfigMatches(path, *inFile, *inModel); !st) return st.ioError();
  IoResult<Gpt2Weights> weights = readLlmcCheckpoint(path, *inModel);
  if (!weights) return weights.ioError();
  return paramsFromTensors(g, std::move(weights->tensors), path);
}

namespace {

/// `follow`: a weights pointer is followed once; the file it names must hold the weights.
IoResult<ParamMap> loadParamsAt(const Graph& g, const std::string& path, bool follow, bool keep);

IoResult<ParamMap> loadGptcParamsAt(const Graph& g, const std::string& path, bool follow,
                                    bool keep) {
  IoResult<GptcCheckpoint> ck = readGptcCheckpoint(path);
  if (!ck) return ck.ioError();
  // A run's model.ckpt names its final step folder's weights (runtime/formats/weights_pointer.h).
  if (std::optional<IoResult<std::string>> target = weightsPointerTarget(path, *ck)) {
    if (!*target) return target->ioError();
    if (!follow) return ioError(path, "a weights pointer names another pointer");
    return loadParamsAt(g, **target, false, keep);
  }
  return paramsFromTensors(g, std::move(ck->tensors), path, keep);
}

IoResult<ParamMap> loadParamsAt(const Graph& g, const std::string& path, bool follow, bool keep) {
  IoResult<FileReader> file = FileReader::open(path);
  if (!file) return file.ioError();
  uint8_t magic[8] = {};
  if (file->size() < sizeof magic || !file->readAt(0, magic, sizeof magic))
    return ioError(path, "too short to be a checkpoint");
  if (loadI32(magic) == kLlmcModelMagic) return loadLlmcParams(g, path);
  if (std::memcmp(magic, kGptcCheckpointMagic, sizeof magic) == 0)
    return loadGptcParamsAt(g, path, follow, keep);
  return ioError(path, "neither an llm.c model file (magic 20240326) nor a gptc checkpoint "
                       "(magic GPTCCKPT)");
}

} // namespace

IoResult<ParamMap> loadGptcParams(const Graph& g, const std::string& path, bool keepQuantized) {
  return loadGptcParamsAt(g, path, true, keepQuantized);
}

IoResult<ParamMap> loadParams(const Graph& g, const std::string& path, bool keepQuantized) {
  return loadParamsAt(g, path, true, keepQuantized);
}

std::string bindParams(Interpreter& interp, const ParamMap& params) {
  for (const auto& [name, t] : params)
    if (std::string e = interp.bind(name, t); !e.empty()) return e;
  return "";
}

} // namespace gptc
