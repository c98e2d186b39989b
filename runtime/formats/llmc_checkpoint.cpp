// llm.c GPT-2 checkpoints and gptc named-tensor checkpoints (see llmc_checkpoint.h). Both readers
// validate sizes against the file length before allocating anything (a corrupt header cannot ask
// for terabytes) and build the result in a local object that is returned only when every check
// has passed.
#include "runtime/formats/llmc_checkpoint.h"

#include <algorithm>
#include <set>

namespace gptc {
namespace {

std::string num(int64_t v) {
  return std::to_string(v);
}

constexpr size_t kLlmcHeaderInts = 256;
constexpr size_t kLlmcHeaderBytes = kLlmcHeaderInts * 4;

/// Bytes of all tensors for a validated config (fits easily: sizes are bounded).
uint64_t llmcDataBytes(const Gpt2Config& c) {
  uint64_t total = 0;
  for (const auto& s : llmcTensorSpecs(c))
    total += uint64_t(checkedNumel(s.shape)) * 4;
  return total;
}

} // namespace

std::vector<LlmcTensorSpec> llmcTensorSpecs(const Gpt2Config& c) {
  const int64_t L = c.L, C = c.C;
  return {
      {"wte", {c.Vp, C}},
      {"wpe", {c.maxT, C}},
      {"ln1w", {L, C}},
      {"ln1b", {L, C}},
      {"qkvw", {L, 3 * C, C}},
      {"qkvb", {L, 3 * C}},
      {"attprojw", {L, C, C}},
      {"attprojb", {L, C}},
      {"ln2w", {L, C}},
      {"ln2b", {L, C}},
      {"fcw", {L, 4 * C, C}},
      {"fcb", {L, 4 * C}},
      {"fcprojw", {L, C, 4 * C}},
      {"fcprojb", {L, C}},
      {"lnfw", {C}},
      {"lnfb", {C}},
  };
}

IoStatus validateGpt2Config(std::string_view where, const Gpt2Config& c) {
  // Bounds far above any GPT-2 (124M: maxT 1024, V 50257, L 12, NH 12, C 768) yet low enough that
  // no size computation overflows; a header outside them is corrupt, not a bigger model.
  struct Field {
    const char* name;
    int32_t value, max;
  };
  for (Field f :
       {Field{"maxT", c.maxT, 1 << 20}, Field{"V", c.V, 1 << 24}, Field{"L", c.L, 1 << 10},
        Field{"NH", c.NH, 1 << 12}, Field{"C", c.C, 1 << 16}, Field{"Vp", c.Vp, 1 << 24}})
    if (f.value <= 0 || f.value > f.max)
      return ioError(where,
                     std::string(f.name) + " is " + num(f.value) + ", outside 1.." + num(f.max));
  if (c.C % c.NH != 0)
    return ioError(where, "C (" + num(c.C) + ") is not divisible by NH (" + num(c.NH) + ")");
  if (c.Vp < c.V)
    return ioError(where,
                   "padded vocabulary Vp (" + num(c.Vp) + ") is smaller than V (" + num(c.V) + ")");
  return {};
}

IoResult<Gpt2Config> readLlmcHeader(const std::string& path) {
  auto f = FileReader::open(path);
  if (!f) return f.ioError();
  const uint64_t size = f->size();
  if (size == 0) return ioError(path, "empty file (expected an llm.c GPT-2 checkpoint)");
  if (size < kLlmcHeaderBytes)
    return ioError(path, "too short for an llm.c checkpoint: " + num(int64_t(size)) +
                             " bytes, the header alone is 1024");
  uint8_t h[32];
  if (IoStatus st = f->readAt(0, h, sizeof h); !st) return st.ioError();
  int32_t magic = loadI32(h), version = loadI32(h + 4);
  if (magic != kLlmcModelMagic)
    return ioError(path, "bad magic " + num(magic) + " (expected " + num(kLlmcModelMagic) +
                             "): not an llm.c GPT-2 checkpoint");
  if (version == kLlmcModelVersionBf16)
    return ioError(path, "version 5 is bf16; gptc reads version 3 (fp32)");
  if (version != kLlmcModelVersion)
    return ioError(path, "unsupported version " + num(version) + "; gptc reads version 3 (fp32)");
  Gpt2Config c;
  c.maxT = loadI32(h + 8);
  c.V = loadI32(h + 12);
  c.L = loadI32(h + 16);
  c.NH = loadI32(h + 20);
  c.C = loadI32(h + 24);
  c.Vp = loadI32(h + 28);
  if (IoStatus st = validateGpt2Config(path, c); !st) return st.ioError();
  uint64_t want = kLlmcHeaderBytes + llmcDataBytes(c);
  if (size < want)
    return ioError(path, "truncated: the header's sizes need " + num(int64_t(want)) +
                             " bytes but the file has " + num(int64_t(size)));
  if (size > want)
    return ioError(path, "size mismatch: the header's sizes need " + num(int64_t(want)) +
                             " bytes but the file has " + num(int64_t(size)) + " (" +
                             num(int64_t(size - want)) + " trailing bytes)");
  return c;
}

IoStatus checkConfigMatches(std::string_view path, const Gpt2Config& f, const Gpt2Config& m) {
  struct Field {
    const char* name;
    int32_t file, model;
  };
  for (Field x : {Field{"maxT", f.maxT, m.maxT}, Field{"V", f.V, m.V}, Field{"L", f.L, m.L},
                  Field{"NH", f.NH, m.NH}, Field{"C", f.C, m.C}, Field{"Vp", f.Vp, m.Vp}})
    if (x.file != x.model)
      return ioError(path, std::string(x.name) + " is " + num(x.file) + " in the file but " +
                               num(x.model) + " in the model");
  return {};
}

const NamedTensor* Gpt2Weights::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

NamedTensor* Gpt2Weights::find(std::string_view name) {
  for (auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Gpt2Weights zeroGpt2Weights(const Gpt2Config& config) {
  Gpt2Weights w;
  w.config = config;
  for (auto& s : llmcTensorSpecs(config)) {
    NamedTensor t;
    t.data.assign(size_t(checkedNumel(s.shape)), 0.0f);
    t.name = std::move(s.name);
    t.shape = std::move(s.shape);
    w.tensors.push_back(std::move(t));
  }
  return w;
}

IoStatus checkGpt2Weights(std::string_view where, const Gpt2Weights& w) {
  if (IoStatus st = validateGpt2Config(where, w.config); !st) return st;
  auto specs = llmcTensorSpecs(w.config);
  if (w.tensors.size() != specs.size())
    return ioError(where, num(int64_t(w.tensors.size())) + " tensors, GPT-2 has " +
                              num(int64_t(specs.size())));
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& t = w.tensors[i];
    if (t.name != specs[i].name)
      return ioError(where, "tensor " + num(int64_t(i)) + " is '" + t.name + "', expected '" +
                                specs[i].name + "'");
    if (t.shape != specs[i].shape)
      return ioError(where, "tensor '" + t.name + "' has shape " + shapeString(t.shape) +
                                ", expected " + shapeString(specs[i].shape));
    if (int64_t(t.data.size()) != checkedNumel(t.shape))
      return ioError(where, "tensor '" + t.name + "' holds " + num(int64_t(t.data.size())) +
                                " values for shape " + shapeString(t.shape));
  }
  return {};
}

IoResult<Gpt2Weights> readLlmcCheckpoint(const std::string& path,
                                         const std::optional<Gpt2Config>& expected) {
  try {
    auto config = readLlmcHeader(path);
    if (!config) return config.ioError();
    if (expected)
      if (IoStatus st = checkConfigMatches(path, *config, *expected); !st) return st.ioError();
    auto f = FileReader::open(path);
    if (!f) return f.ioError();
    if (f->size() != kLlmcHeaderBytes + llmcDataBytes(*config))
      return ioError(path, "file changed size while being read");
    Gpt2Weights w;
    w.config = *config;
    uint64_t offset = kLlmcHeaderBytes;
    for (auto& s : llmcTensorSpecs(*config)) {
      NamedTensor t;
      t.data.resize(size_t(checkedNumel(s.shape)));
      if (IoStatus st = f->readAt(offset, t.data.data(), t.data.size() * 4); !st)
        return st.ioError();
      offset += t.data.size() * 4;
      t.name = std::move(s.name);
      t.shape = std::move(s.shape);
      w.tensors.push_back(std::move(t));
    }
    return w;
  } catch (const std::bad_alloc&) {
    return ioError(path, "out of memory reading the checkpoint");
  }
}

IoStatus writeLlmcCheckpoint(const std::string& path, const Gpt2Weights& w) try {
  if (IoStatus st = checkGpt2Weights(path, w); !st) return st;
  std::vector<uint8_t> header;
  header.reserve(kLlmcHeaderBytes);
  const auto& c = w.config;
  for (int32_t v : {kLlmcModelMagic, kLlmcModelVersion, c.maxT, c.V, c.L, c.NH, c.C, c.Vp})
    appendI32(header, v);
  header.resize(kLlmcHeaderBytes, 0);
  auto out = AtomicFileWriter::create(path);
  if (!out) return out.ioError();
  if (IoStatus st = out->write(header); !st) return st;
  for (const auto& t : w.tensors)
    if (IoStatus st = out->write(t.data.data(), t.data.size() * 4); !st) return st;
  return out->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

// ---- gptc named-tensor checkpoints ------------------------------------------------------------

namespace {

constexpr uint32_t kMaxNameBytes = 4096;
constexpr uint32_t kMaxRank = 8;
constexpr uint32_t kMaxTensors = 1u << 20;
constexpr uint64_t kMaxMetadata = uint64_t(1) << 24;

/// Sequential reads inside [0, limit) that keep a running CRC of every byte read.
struct CrcCursor {
  const FileReader& f;
  uint64_t limit;
  uint64_t pos = 0;
  uint32_t crc = 0;

  uint64_t left() const { return limit - pos; }
  IoStatus read(void* dst, uint64_t n, std::string_view what) {
    if (n > left())
      return ioError(f.path(), "truncated: " + std::string(what) + " needs " + num(int64_t(n)) +
                                   " bytes at byte " + num(int64_t(pos)) + " but only " +
                                   num(int64_t(left())) + " remain before the checksum");
    if (IoStatus st = f.readAt(pos, dst, size_t(n)); !st) return st;
    crc = crc32(dst, size_t(n), crc);
    pos += n;
    return {};
  }
  IoResult<uint32_t> u32(std::string_view what) {
    uint8_t b[4];
    if (IoStatus st = read(b, 4, what); !st) return st.ioError();
    return loadU32(b);
  }
  IoResult<uint64_t> u64(std::string_view what) {
    uint8_t b[8];
    if (IoStatus st = read(b, 8, what); !st) return st.ioError();
    return loadU64(b);
  }
};

} // namespace

namespace {

/// Bytes per value of a stored dtype, 0 for an unknown code.
uint64_t storedSize(uint32_t dtype) {
  switch (StoredDType(dtype)) {
  case StoredDType::f32:
    return 4;
  case StoredDType::bf16:
    return 2;
  case StoredDType::i8:
    return 1;
  }
  return 0;
}

const char* storedName(uint32_t dtype) {
  switch (StoredDType(dtype)) {
  case StoredDType::f32:
    return "f32";
  case StoredDType::bf16:
    return "bf16";
  case StoredDType::i8:
    return "i8";
  }
  return "?";
}

/// The stored bytes of t ("" or why its values cannot be stored as its dtype: nothing is rounded).
std::string packStored(const NamedTensor& t, std::vector<uint8_t>* bytes) {
  const size_t n = t.data.size();
  bytes->resize(n * storedSize(uint32_t(t.dtype)));
  for (size_t i = 0; i < n; ++i) {
    const float x = t.data[i];
    if (t.dtype == StoredDType::bf16) {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      if (u & 0xffffu)
        return "tensor '" + t.name + "' is bf16 but value " + num(int64_t(i)) +
               " is not a bf16 number";
      const uint16_t h = uint16_t(u >> 16);
      std::memcpy(bytes->data() + 2 * i, &h, 2);
    } else if (t.dtype == StoredDType::i8) {
      if (!(x >= -128.0f && x <= 127.0f) || x != float(int(x)))
        return "tensor '" + t.name + "' is i8 but value " + num(int64_t(i)) +
               " is not an integer in [-128, 127]";
      (*bytes)[i] = uint8_t(int8_t(x));
    }
  }
  return "";
}

void unpackStored(uint32_t dtype, const uint8_t* bytes, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    if (StoredDType(dtype) == StoredDType::bf16) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      const uint32_t u = uint32_t(h) << 16;
      std::memcpy(out + i, &u, 4);
    } else {
      out[i] = float(int8_t(bytes[i]));
    }
  }
}

} // namespace

const NamedTensor* GptcCheckpoint::find(std::string_view name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

IoStatus writeGptcCheckpoint(const std::string& path, const GptcCheckpoint& ck) try {
  if (ck.tensors.size() > kMaxTensors)
    return ioError(path, "more than " + num(kMaxTensors) + " tensors");
  if (ck.metadata.size() > kMaxMetadata)
    return ioError(path, "metadata is larger than " + num(int64_t(kMaxMetadata)) + " bytes");
  std::set<std::string_view> names;
  for (const auto& t : ck.tensors) {
    if (t.name.empty() || t.name.size() > kMaxNameBytes || t.name.find('\0') != std::string::npos)
      return ioError(path, "tensor name '" + t.name + "' must be 1.." + num(kMaxNameBytes) +
                               " bytes without NUL");
    if (!names.insert(t.name).second) return ioError(path, "tensor '" + t.name + "' appears twice");
    if (t.shape.size() > kMaxRank)
      return ioError(path, "tensor '" + t.name + "' has rank " + num(int64_t(t.shape.size())) +
                               ", more than " + num(kMaxRank));
    int64_t n = checkedNumel(t.shape);
    if (n < 0 || uint64_t(n) != t.data.size())
      return ioError(path, "tensor '" + t.name + "' holds " + num(int64_t(t.data.size())) +
                               " values for shape " + shapeString(t.shape));
    if (storedSize(uint32_t(t.dtype)) == 0)
      return ioError(path, "tensor '" + t.name + "' has unknown dtype " + num(uint32_t(t.dtype)));
  }
  const bool allF32 = std::all_of(ck.tensors.begin(), ck.tensors.end(),
                                  [](const NamedTensor& t) { return t.dtype == StoredDType::f32; });
  auto out = AtomicFileWriter::create(path);
  if (!out) return out.ioError();
  uint32_t crc = 0;
  auto put = [&](const void* p, size_t n) {
    crc = crc32(p, n, crc);
    return out->write(p, n);
  };
  std::vector<uint8_t> bytes; // a bf16 or i8 tensor's stored bytes
  std::vector<uint8_t> b(kGptcCheckpointMagic, kGptcCheckpointMagic + 8);
  appendU32(b, allF32 ? kGptcCheckpointVersionF32 : kGptcCheckpointVersion);
  appendU32(b, uint32_t(ck.tensors.size()));
  appendU64(b, ck.metadata.size());
  b.insert(b.end(), ck.metadata.begin(), ck.metadata.end());
  if (IoStatus st = put(b.data(), b.size()); !st) return st;
  for (const auto& t : ck.tensors) {
    b.clear();
    appendU32(b, uint32_t(t.name.size()));
    b.insert(b.end(), t.name.begin(), t.name.end());
    appendU32(b, uint32_t(t.dtype));
    appendU32(b, uint32_t(t.shape.size()));
    for (int64_t d : t.shape)
      appendI64(b, d);
    appendU64(b, t.data.size() * storedSize(uint32_t(t.dtype)));
    if (IoStatus st = put(b.data(), b.size()); !st) return st;
    if (t.dtype == StoredDType::f32) {
      if (IoStatus st = put(t.data.data(), t.data.size() * 4); !st) return st;
    } else {
      if (std::string e = packStored(t, &bytes); !e.empty()) return ioError(path, e);
      if (IoStatus st = put(bytes.data(), bytes.size()); !st) return st;
    }
  }
  b.clear();
  appendU32(b, crc);
  if (IoStatus st = out->write(b); !st) return st;
  return out->commit();
} catch (const std::exception& e) {
  return ioError(path, std::string("failed: ") + e.what());
}

IoResult<GptcCheckpoint> readGptcCheckpoint(const std::string& path) {
  try {
    auto f = FileReader::open(path);
    if (!f) return f.ioError();
    const uint64_t size = f->size();
    if (size == 0) return ioError(path, "empty file (expected a gptc checkpoint)");
    if (size < 28)
      return ioError(path, "too short for a gptc checkpoint: " + num(int64_t(size)) +
                               " bytes, the smallest is 28");
    uint8_t magic[8];
    if (IoStatus st = f->readAt(0, magic, 8); !st) return st.ioError();
    if (std::memcmp(magic, kGptcCheckpointMagic, 8) != 0) {
      // llm.c files are a common mix-up: say so.
      if (loadI32(magic) == kLlmcModelMagic)
        return ioError(path, "bad magic: this is an llm.c GPT-2 checkpoint, not a gptc checkpoint");
      return ioError(path, "bad magic (expected \"GPTCCKPT\"): not a gptc checkpoint");
    }
    CrcCursor cur{*f, size - 4};
    if (IoStatus st = cur.read(magic, 8, "magic"); !st) return st.ioError();
    auto version = cur.u32("version");
    if (!version) return version.ioError();
    if (*version != kGptcCheckpointVersionF32 && *version != kGptcCheckpointVersion)
      return ioError(path, "unsupported version " + num(*version) + " (gptc reads versions " +
                               num(kGptcCheckpointVersionF32) + " and " +
                               num(kGptcCheckpointVersion) + ")");
    auto count = cur.u32("tensor count");
    if (!count) return count.ioError();
    if (*count > kMaxTensors)
      return ioError(path, "tensor count " + num(*count) + " is more than " + num(kMaxTensors));
    auto metaLen = cur.u64("metadata length");
    if (!metaLen) return metaLen.ioError();
    if (*metaLen > kMaxMetadata || *metaLen > cur.left())
      return ioError(path, "metadata length " + num(int64_t(*metaLen)) +
                               " runs past the end of the file");
    GptcCheckpoint ck;
    ck.metadata.resize(size_t(*metaLen));
    if (IoStatus st = cur.read(ck.metadata.data(), *metaLen, "metadata"); !st) return st.ioError();
    std::set<std::string> names;
    for (uint32_t i = 0; i < *count; ++i) {
      std::string which = "tensor " + num(i);
      auto nameLen = cur.u32(which + " name length");
      if (!nameLen) return nameLen.ioError();
      if (*nameLen == 0 || *nameLen > kMaxNameBytes)
        return ioError(path, which + ": name length " + num(*nameLen) + " is outside 1.." +
                                 num(kMaxNameBytes));
      NamedTensor t;
      t.name.resize(*nameLen);
      if (IoStatus st = cur.read(t.name.data(), *nameLen, which + " name"); !st)
        return st.ioError();
      if (t.name.find('\0') != std::string::npos)
        return ioError(path, which + ": name contains a NUL byte");
      which = "tensor '" + t.name + "'";
      if (!names.insert(t.name).second) return ioError(path, which + " appears twice");
      auto dtype = cur.u32(which + " dtype");
      if (!dtype) return dtype.ioError();
      if (*version == kGptcCheckpointVersionF32 && *dtype != kGptcDtypeF32)
        return ioError(path, which + ": unknown dtype " + num(*dtype) +
                                 " (version 1 stores f32 = 1 only)");
      const uint64_t elemSize = storedSize(*dtype);
      if (elemSize == 0)
        return ioError(path, which + ": unknown dtype " + num(*dtype) +
                                 " (version 2 stores f32 = 1, bf16 = 2, i8 = 3)");
      t.dtype = StoredDType(*dtype);
      auto rank = cur.u32(which + " rank");
      if (!rank) return rank.ioError();
      if (*rank > kMaxRank)
        return ioError(path, which + ": rank " + num(*rank) + " is more than " + num(kMaxRank));
      for (uint32_t d = 0; d < *rank; ++d) {
        auto dim = cur.u64(which + " dims");
        if (!dim) return dim.ioError();
        t.shape.push_back(int64_t(*dim));
      }
      int64_t numel = checkedNumel(t.shape);
      if (numel < 0)
        return ioError(path, which + ": shape " + shapeString(t.shape) +
                                 " has a negative or too large dimension");
      auto byteLen = cur.u64(which + " byte length");
      if (!byteLen) return byteLen.ioError();
      if (*byteLen != uint64_t(numel) * elemSize)
        return ioError(path, which + ": byte length " + num(int64_t(*byteLen)) +
                                 " does not match shape " + shapeString(t.shape) + " (" +
                                 num(numel * int64_t(elemSize)) + " bytes of " +
                                 storedName(*dtype) + ")");
      if (*byteLen > cur.left()) // before allocating: a corrupt size cannot ask for terabytes
        return ioError(path, "truncated: " + which + " needs " + num(int64_t(*byteLen)) +
                                 " bytes of data but only " + num(int64_t(cur.left())) +
                                 " remain before the checksum");
      t.data.resize(size_t(numel));
      if (t.dtype == StoredDType::f32) {
        if (IoStatus st = cur.read(t.data.data(), *byteLen, which + " data"); !st)
          return st.ioError();
      } else {
        std::vector<uint8_t> bytes(static_cast<size_t>(*byteLen));
        if (IoStatus st = cur.read(bytes.data(), *byteLen, which + " data"); !st)
          return st.ioError();
        unpackStored(*dtype, bytes.data(), size_t(numel), t.data.data());
      }
      ck.tensors.push_back(std::move(t));
    }
    if (cur.left() != 0)
      return ioError(path, "size mismatch: " + num(int64_t(cur.left())) +
                               " trailing bytes between the last tensor and the checksum");
    uint8_t tail[4];
    if (IoStatus st = f->readAt(size - 4, tail, 4); !st) return st.ioError();
    if (loadU32(tail) != cur.crc)
      return ioError(path, "checksum mismatch (file says " + num(loadU32(tail)) +
                               ", contents give " + num(cur.crc) + "): the file is corrupt");
    return ck;
  } catch (const std::bad_alloc&) {
    return ioError(path, "out of memory reading the checkpoint");
  }
}

} // namespace gptc
