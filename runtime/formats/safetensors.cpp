// safetensors reader/writer and the Hugging Face GPT-2 -> llm.c layout mapping (see
// safetensors.h). The header is JSON (nlohmann, parsed without exceptions); every range is checked
// against the file before any tensor memory is allocated.
#include "runtime/formats/safetensors.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

namespace gptc {
namespace {

using nlohmann::json;

std::string num(uint64_t v) {
  return std::to_string(v);
}

constexpr uint64_t kMaxHeaderBytes = 100u << 20; // the safetensors crate's own limit

/// Bytes per element, or 0 for a dtype safetensors does not define.
uint64_t dtypeBytes(const std::string& d) {
  static const std::map<std::string, uint64_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2},    {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U64", 8},     {"U32", 4},
      {"U16", 2}, {"U8", 1},  {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
  auto it = sizes.find(d);
  return it == sizes.end() ? 0 : it->second;
}

IoResult<SafetensorsEntry> parseEntry(const std::string& path, const std::string& name,
                                      const json& v) {
  auto bad = [&](const std::string& what) {
    return ioError(path, "tensor '" + name + "': " + what);
  };
  if (!v.is_object()) return bad("header entry is not a JSON object");
  SafetensorsEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) return bad("missing \"dtype\" string");
  e.dtype = dt->get<std::string>();
  uint64_t elem = dtypeBytes(e.dtype);
  if (elem == 0) return bad("unknown dtype \"" + e.dtype + "\"");
  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) return bad("missing \"shape\" array");
  if (sh->size() > 16) return bad("rank " + num(sh->size()) + " is more than 16");
  for (const auto& d : *sh) {
    if (!d.is_number_unsigned()) return bad("shape " + sh->dump() + " has a non-natural dimension");
    auto u = d.get<uint64_t>();
    if (u > (uint64_t(1) << 40)) return bad("shape " + sh->dump() + " is too large");
    e.shape.push_back(int64_t(u));
  }
  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
      !(*off)[1].is_number_unsigned())
    return bad("\"data_offsets\" must be [begin, end] with natural numbers");
  e.begin = (*off)[0].get<uint64_t>();
  e.end = (*off)[1].get<uint64_t>();
  if (e.end < e.begin)
    return bad("data_offsets [" + num(e.begin) + ", " + num(e.end) + "] end before they begin");
  int64_t numel = checkedNumel(e.shape);
  if (numel < 0) return bad("shape " + shapeString(e.shape) + " is too large");
  if (e.end - e.begin != uint64_t(numel) * elem)
    return bad("data_offsets [" + num(e.begin) + ", " + num(e.end) + "] hold " +
               num(e.end - e.begin) + " bytes but " + e.dtype + " " + shapeString(e.shape) +
               " needs " + num(uint64_t(numel) * elem));
  return e;
}

void convertToF32(const std::string& dtype, const uint8_t* src, size_t n, float* dst) {
  if (dtype == "F32") {
    if (n > 0) std::memcpy(dst, src, n * 4);
  } else if (dtype == "F16") {
    for (size_t i = 0; i < n; ++i)
      dst[i] = halfToFloat(uint16_t(src[2 * i] | src[2 * i + 1] << 8));
  } else { // BF16
    for (size_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(uint16_t(src[2 * i] | src[2 * i + 1] << 8));
  }
}

} // namespace

float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
  if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13); // inf / nan (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13); // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign; // +-0
  } else {
    // Subnormal: normalise the mantissa.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    bits = sign | uint32_t(112 - e) << 23 | (mant & 0x3FF) << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

IoResult<SafetensorsIndex> readSafetensorsIndex(const std::string& path) {
  try {
    auto f = FileReader::open(path);
    if (!f) return f.ioError();
    const uint64_t size = f->size();
    if (size == 0) return ioError(path, "empty file (expected safetensors)");
    if (size < 8)
      return ioError(path, "too short for safetensors: " + num(size) +
                               " bytes, the header length alone is 8");
    uint8_t lenBytes[8];
    if (IoStatus st = f->readAt(0, lenBytes, 8); !st) return st.ioError();
    uint64_t n = loadU64(lenBytes);
    if (n > kMaxHeaderBytes)
      return ioError(path, "header length " + num(n) + " is more than the 100 MiB limit " +
                               "(not a safetensors file?)");
    if (n > size - 8)
      return ioError(path, "truncated: the header length is " + num(n) + " but only " +
                               num(size - 8) + " bytes follow");
    std::string text(n, '\0');
    if (IoStatus st = f->readAt(8, text.data(), n); !st) return st.ioError();
    auto j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return ioError(path, "the header is not valid JSON");
    if (!j.is_object()) return ioError(path, "the header is not a JSON object");
    SafetensorsIndex idx;
    idx.dataStart = 8 + n;
    const uint64_t dataBytes = size - idx.dataStart;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "__metadata__") {
        if (!it->is_object()) return ioError(path, "__metadata__ is not a JSON object");
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (!m->is_string())
            return ioError(path, "__metadata__ value of \"" + m.key() + "\" is not a string");
          idx.metadata[m.key()] = m->get<std::string>();
        }
        continue;
      }
      auto e = parseEntry(path, it.key(), *it);
      if (!e) return e.ioError();
      idx.entries.push_back(std::move(*e));
    }
    std::sort(idx.entries.begin(), idx.entries.end(), [](const auto& a, const auto& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    // The data section must be tiled exactly: every byte belongs to one tensor.
    uint64_t expect = 0;
    for (size_t i = 0; i < idx.entries.size(); ++i) {
      const auto& e = idx.entries[i];
      if (e.begin < expect)
        return ioError(path, "tensor '" + e.name + "' [" + num(e.begin) + ", " + num(e.end) +
                                 ") overlaps tensor '" + idx.entries[i - 1].name + "' (ends at " +
                                 num(expect) + ")");
      if (e.begin > expect)
        return ioError(path, "bytes [" + num(expect) + ", " + num(e.begin) +
                                 ") of the data belong to no tensor (before '" + e.name + "')");
      if (e.end > dataBytes)
        return ioError(path, "truncated: tensor '" + e.name + "' ends at data byte " + num(e.end) +
                                 " but the data section has " + num(dataBytes));
      expect = e.end;
    }
    if (expect != dataBytes)
      return ioError(path, "size mismatch: " + num(dataBytes - expect) +
                               " trailing bytes after the last tensor");
    return idx;
  } catch (const std::exception& e) {
    return ioError(path, std::string("cannot read the safetensors header: ") + e.what());
  }
}

IoResult<std::vector<NamedTensor>>
readSafetensors(const std::string& path, const std::function<bool(const std::string&)>& want) {
  try {
    auto idx = readSafetensorsIndex(path);
    if (!idx) return idx.ioError();
    auto f = FileReader::open(path);
    if (!f) return f.ioError();
    if (f->size() != idx->dataStart + (idx->entries.empty() ? 0 : idx->entries.back().end))
      return ioError(path, "file changed size while being read");
    std::vector<NamedTensor> out;
    std::vector<uint8_t> staging;
    for (const auto& e : idx->entries) {
      if (want && !want(e.name)) continue;
      if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16")
        return ioError(path, "tensor '" + e.name + "': dtype " + e.dtype +
                                 " cannot be read as f32 (F32, F16, BF16 can)");
      NamedTensor t;
      t.name = e.name;
      t.shape = e.shape;
      t.data.resize(size_t(checkedNumel(e.shape)));
      staging.resize(size_t(e.end - e.begin));
      if (IoStatus st = f->readAt(idx->dataStart + e.begin, staging.data(), staging.size()); !st)
        return st.ioError();
      convertToF32(e.dtype, staging.data(), t.data.size(), t.data.data());
      out.push_back(std::move(t));
    }
    return out;
  } catch (const std::bad_alloc&) {
    return ioError(path, "out of memory reading safetensors");
  }
}

IoStatus writeSafetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                          const std::map<std::string, std::string>& metadata) try {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      return ioError(path, "invalid tensor name '" + t.name + "'");
    if (header.contains(t.name)) return ioError(path, "tensor '" + t.name + "' appears twice");
    int64_t n = checkedNumel(t.shape);
    if (n < 0 || uint64_t(n) != t.data.size())
      return ioError(path, "tensor '" + t.name + "' holds " + num(t.data.size()) +
                               " values for shape " + shapeString(t.shape));
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + uint64_t(n) * 4}}};
    offset += uint64_t(n) * 4;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.resize((text.size() + 7) / 8 * 8, ' '); // keeps the data 8-byte aligned in the file
  auto out = AtomicFileWriter::create(path);
  if (!out) return out.ioError();
  std::vector<uint8_t> len;
  appendU64(len, text.size());
  if (IoStatus st = out->write(len); !st) return st;
  if (IoStatus st = out->write(text.data(), text.size()); !st) return st;
  for (const auto& t : tensors)
    if (IoStatus st = out->write(t.data.data(), t.data.size() * 4); !st) return st;
  return out->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

// ---- Hugging Face GPT-2 -> llm.c ----------------------------------------------------------------

IoResult<Gpt2Weights> gpt2FromHuggingFace(const std::vector<NamedTensor>& tensors, int32_t numHeads,
                                          int32_t paddedVocab, const std::string& where) {
  try {
    std::map<std::string, const NamedTensor*> byName;
    int64_t layers = 0;
    for (const auto& t : tensors) {
      std::string name = t.name;
      if (name.rfind("transformer.", 0) == 0) name = name.substr(12);
      if (name == "lm_head.weight") continue; // tied to wte in GPT-2
      if (name.rfind("h.", 0) == 0) {
        size_t dot = name.find('.', 2);
        std::string idx = name.substr(2, dot == std::string::npos ? std::string::npos : dot - 2);
        if (idx.empty() || idx.size() > 4 || !std::all_of(idx.begin(), idx.end(), ::isdigit))
          return ioError(where, "unexpected tensor '" + t.name + "'");
        std::string rest = dot == std::string::npos ? "" : name.substr(dot + 1);
        if (rest == "attn.bias" || rest == "attn.masked_bias") continue; // causal-mask buffers
        layers = std::max<int64_t>(layers, std::stoll(idx) + 1);
      }
      if (!byName.emplace(name, &t).second)
        return ioError(where, "tensor '" + name + "' appears twice");
    }
    auto get = [&](const std::string& name) -> IoResult<const NamedTensor*> {
      auto it = byName.find(name);
      if (it == byName.end()) return ioError(where, "missing tensor '" + name + "'");
      return it->second;
    };
    auto wte = get("wte.weight"), wpe = get("wpe.weight");
    if (!wte) return wte.ioError();
    if (!wpe) return wpe.ioError();
    if ((*wte)->shape.size() != 2 || (*wpe)->shape.size() != 2)
      return ioError(where, "wte.weight and wpe.weight must be matrices");
    Gpt2Config c;
    c.V = int32_t(std::min<int64_t>((*wte)->shape[0], INT32_MAX));
    c.C = int32_t(std::min<int64_t>((*wte)->shape[1], INT32_MAX));
    c.maxT = int32_t(std::min<int64_t>((*wpe)->shape[0], INT32_MAX));
    c.L = int32_t(std::min<int64_t>(layers, INT32_MAX));
    c.NH = numHeads;
    c.Vp = paddedVocab > 0 ? paddedVocab : int32_t((int64_t(c.V) + 127) / 128 * 128);
    if (IoStatus st = validateGpt2Config(where, c); !st) return st.ioError();

    const int64_t C = c.C;
    // Copies `name` (expected shape `shape`) into dst, transposing a 2-D Conv1D [in, out] weight.
    auto copy = [&](const std::string& name, std::vector<int64_t> shape, float* dst,
                    bool transpose) -> IoStatus {
      auto t = get(name);
      if (!t) return t.ioError();
      if ((*t)->shape != shape)
        return ioError(where, "tensor '" + name + "' has shape " + shapeString((*t)->shape) +
                                  ", expected " + shapeString(shape));
      const float* src = (*t)->data.data();
      if (!transpose) {
        std::copy(src, src + (*t)->data.size(), dst);
      } else {
        const int64_t in = shape[0], out = shape[1];
        for (int64_t i = 0; i < in; ++i)
          for (int64_t o = 0; o < out; ++o)
            dst[o * in + i] = src[i * out + o];
      }
      return {};
    };
    struct PerLayer {
      const char* hf;
      const char* llmc;
      std::vector<int64_t> hfShape;
      bool transpose;
    };
    const std::vector<PerLayer> perLayer = {
        {"ln_1.weight", "ln1w", {C}, false},
        {"ln_1.bias", "ln1b", {C}, false},
        {"attn.c_attn.weight", "qkvw", {C, 3 * C}, true},
        {"attn.c_attn.bias", "qkvb", {3 * C}, false},
        {"attn.c_proj.weight", "attprojw", {C, C}, true},
        {"attn.c_proj.bias", "attprojb", {C}, false},
        {"ln_2.weight", "ln2w", {C}, false},
        {"ln_2.bias", "ln2b", {C}, false},
        {"mlp.c_fc.weight", "fcw", {C, 4 * C}, true},
        {"mlp.c_fc.bias", "fcb", {4 * C}, false},
        {"mlp.c_proj.weight", "fcprojw", {4 * C, C}, true},
        {"mlp.c_proj.bias", "fcprojb", {C}, false},
    };
    // Validate every name and shape before allocating: a stray "h.999.x" must not make us
    // allocate 1000 layers before noticing that layer 2 is missing.
    std::vector<std::pair<std::string, std::vector<int64_t>>> required = {
        {"wte.weight", {c.V, C}},
        {"wpe.weight", {c.maxT, C}},
        {"ln_f.weight", {C}},
        {"ln_f.bias", {C}}};
    for (int32_t l = 0; l < c.L; ++l)
      for (const auto& p : perLayer)
        required.push_back({"h." + std::to_string(l) + "." + p.hf, p.hfShape});
    for (const auto& [name, shape] : required) {
      auto t = get(name);
      if (!t) return t.ioError();
      if ((*t)->shape != shape)
        return ioError(where, "tensor '" + name + "' has shape " + shapeString((*t)->shape) +
                                  ", expected " + shapeString(shape));
      if ((*t)->data.size() != size_t(checkedNumel(shape)))
        return ioError(where, "tensor '" + name + "' holds " + num((*t)->data.size()) +
                                  " values for shape " + shapeString(shape));
    }
    if (required.size() != byName.size()) {
      std::set<std::string> known;
      for (const auto& r : required)
        known.insert(r.first);
      for (const auto& [name, t] : byName)
        if (!known.count(name)) return ioError(where, "unexpected tensor '" + t->name + "'");
    }
    Gpt2Weights w = zeroGpt2Weights(c);
    // wte: V rows, then Vp - V zero rows (already zero).
    if (IoStatus st = copy("wte.weight", {c.V, C}, w.find("wte")->data.data(), false); !st)
      return st.ioError();
    if (IoStatus st = copy("wpe.weight", {c.maxT, C}, w.find("wpe")->data.data(), false); !st)
      return st.ioError();
    for (const auto& p : perLayer) {
      NamedTensor* dst = w.find(p.llmc);
      const size_t stride = dst->data.size() / size_t(c.L); // one layer's slice of the stack
      for (int32_t l = 0; l < c.L; ++l) {
        std::string name = "h." + std::to_string(l) + "." + p.hf;
        if (IoStatus st = copy(name, p.hfShape, dst->data.data() + size_t(l) * stride, p.transpose);
            !st)
          return st.ioError();
      }
    }
    if (IoStatus st = copy("ln_f.weight", {C}, w.find("lnfw")->data.data(), false); !st)
      return st.ioError();
    if (IoStatus st = copy("ln_f.bias", {C}, w.find("lnfb")->data.data(), false); !st)
      return st.ioError();
    return w;
  } catch (const std::exception& e) {
    return ioError(where, std::string("cannot map GPT-2 weights: ") + e.what());
  }
}

IoResult<Gpt2Weights> loadHuggingFaceGpt2(const std::string& path, int32_t numHeads,
                                          int32_t paddedVocab) {
  auto tensors = readSafetensors(path, [](const std::string& name) {
    // The mask buffers are not weights (and may be stored as BOOL/U8 in some exports).
    auto endsWith = [&](std::string_view s) {
      return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
    };
    return !(endsWith(".attn.bias") || endsWith(".attn.masked_bias"));
  });
  if (!tensors) return tensors.ioError();
  return gpt2FromHuggingFace(*tensors, numHeads, paddedVocab, path);
}

} // namespace gptc
