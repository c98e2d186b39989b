// Reader for the PyTorch parity fixtures in tests/fixtures/reference/ (written by
// tests/reference/make_fixtures.py). A fixture is two files with one stem:
//   <stem>.fix   binary tensors (format below, also documented in tests/reference/README.md)
//   <stem>.json  {"model": "models/gpt2.graph", "set": {"V": 64, ...}, "notes": ..., ...}
// This header only reads and validates; binding tensors to a graph's params/inputs and comparing
// results is left to the tests that use it (interpreter, autodiff, JIT, trainer).
//
// .fix format, all little-endian:
//   8 bytes magic "GPTCFIX1", u32 tensor count, then per tensor:
//   u32 name length, name bytes (UTF-8), u32 dtype (0 = f32, 1 = i32), u32 rank,
//   rank x i64 dims, numel x 4 bytes of data (row-major).
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace gptc {

/// One named tensor of a fixture. Exactly one of `f` (dtype 0, f32) or `i` (dtype 1, i32) holds
/// the data, row-major, numel() elements; a rank-0 tensor has an empty shape and one element.
struct FixtureTensor {
  std::string name;
  int dtype = 0; // 0 = f32, 1 = i32
  std::vector<int64_t> shape;
  std::vector<float> f;
  std::vector<int32_t> i;

  static constexpr int kF32 = 0;
  static constexpr int kI32 = 1;

  /// Product of the dims (1 for a scalar).
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    return n;
  }
};

/// A slice [start, end) of a parameter's last axis whose true gradient is exactly zero (attention
/// key biases; see the json's "zero_gradient_slices"). Float32 AdamW moves these entries by noise,
/// so parity tests skip them when comparing `adamw.param.<param>`.
struct FixtureSlice {
  std::string param;
  int64_t start = 0;
  int64_t end = 0;
};

/// A whole fixture: its tensors by name, the `--set` constants the model file must be compiled
/// with (values as text, e.g. "64", so they can be passed straight to the parser's overrides),
/// and the model file path relative to the repo root.
struct Fixture {
  std::map<std::string, FixtureTensor> tensors;
  std::map<std::string, std::string> set; // from the json "set"
  std::string model;
  std::vector<FixtureSlice> zeroGradientSlices; // from the json "zero_gradient_slices", if any

  /// The tensor called `name`, or nullptr.
  const FixtureTensor* find(const std::string& name) const {
    auto it = tensors.find(name);
    return it == tensors.end() ? nullptr : &it->second;
  }

  /// One flag per element of `param.<param>`: false inside a zero-gradient slice, true elsewhere.
  /// Compare `adamw.param.<param>` only where it is true. Empty if there is no such param.
  std::vector<bool> adamwComparable(const std::string& param) const {
    const FixtureTensor* t = find("param." + param);
    if (!t) return {};
    std::vector<bool> keep(size_t(t->numel()), true);
    const int64_t last = t->shape.empty() ? 1 : t->shape.back();
    for (const FixtureSlice& s : zeroGradientSlices) {
      if (s.param != param) continue;
      for (size_t k = 0; k < keep.size(); ++k) {
        const int64_t j = int64_t(k) % last;
        if (j >= s.start && j < s.end) keep[k] = false;
      }
    }
    return keep;
  }
};

namespace fixture_detail {

/// Bounds-checked little-endian cursor over the file bytes.
struct Reader {
  const std::vector<unsigned char>& bytes;
  size_t pos = 0;
  bool take(void* out, size_t n) {
    if (n > bytes.size() - pos) return false;
    std::memcpy(out, bytes.data() + pos, n);
    pos += n;
    return true;
  }
  template <class T> bool le(T& out) {
    unsigned char b[sizeof(T)];
    if (!take(b, sizeof(T))) return false;
    std::make_unsigned_t<T> v = 0;
    for (size_t k = 0; k < sizeof(T); ++k)
      v |= std::make_unsigned_t<T>(b[k]) << (8 * k);
    std::memcpy(&out, &v, sizeof(T));
    return true;
  }
};

inline bool fail(std::string* error, const std::string& msg) {
  if (error) *error = msg;
  return false;
}

inline bool readFile(const std::string& path, std::vector<unsigned char>& out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(error, path + ": cannot open");
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return fail(error, path + ": read error");
  return true;
}

inline bool parseFix(const std::string& path, const std::vector<unsigned char>& bytes, Fixture& fx,
                     std::string* error) {
  Reader r{bytes};
  char magic[8];
  if (!r.take(magic, 8) || std::memcmp(magic, "GPTCFIX1", 8) != 0)
    return fail(error, path + ": bad magic (expected GPTCFIX1)");
  uint32_t count = 0;
  if (!r.le(count)) return fail(error, path + ": truncated header");
  for (uint32_t t = 0; t < count; ++t) {
    std::string where = path + ": tensor " + std::to_string(t);
    uint32_t nameLen = 0;
    if (!r.le(nameLen)) return fail(error, where + ": truncated name length");
    if (nameLen == 0 || nameLen > bytes.size() - r.pos)
      return fail(error, where + ": bad name length " + std::to_string(nameLen));
    FixtureTensor ft;
    ft.name.resize(nameLen);
    r.take(ft.name.data(), nameLen);
    where = path + ": tensor '" + ft.name + "'";
    uint32_t dtype = 0, rank = 0;
    if (!r.le(dtype) || !r.le(rank)) return fail(error, where + ": truncated dtype/rank");
    if (dtype > 1) return fail(error, where + ": unknown dtype " + std::to_string(dtype));
    if (rank > 8) return fail(error, where + ": rank " + std::to_string(rank) + " too large");
    ft.dtype = int(dtype);
    // numel is bounded by the bytes left, so the product check below cannot overflow int64.
    const uint64_t budget = bytes.size() / 4 + 1;
    uint64_t numel = 1;
    for (uint32_t d = 0; d < rank; ++d) {
      int64_t dim = 0;
      if (!r.le(dim)) return fail(error, where + ": truncated dims");
      if (dim < 0) return fail(error, where + ": negative dim " + std::to_string(dim));
      ft.shape.push_back(dim);
      numel = dim == 0 ? 0 : (numel > budget / uint64_t(dim) ? budget + 1 : numel * uint64_t(dim));
    }
    if (numel > (bytes.size() - r.pos) / 4)
      return fail(error, where + ": data runs past the end of the file");
    if (dtype == 0) {
      ft.f.resize(numel);
      for (auto& v : ft.f) {
        uint32_t u = 0;
        r.le(u);
        std::memcpy(&v, &u, 4);
      }
    } else {
      ft.i.resize(numel);
      for (auto& v : ft.i)
        r.le(v);
    }
    std::string name = ft.name;
    if (!fx.tensors.emplace(name, std::move(ft)).second)
      return fail(error, where + ": duplicate name");
  }
  if (r.pos != bytes.size())
    return fail(error, path + ": " + std::to_string(bytes.size() - r.pos) +
                           " trailing bytes after the last tensor");
  return true;
}

inline bool parseJson(const std::string& path, const std::vector<unsigned char>& bytes, Fixture& fx,
                      std::string* error) {
  nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(error, path + ": not a JSON object");
  if (!j.contains("model") || !j["model"].is_string())
    return fail(error, path + ": missing string \"model\"");
  fx.model = j["model"].get<std::string>();
  if (!j.contains("set") || !j["set"].is_object())
    return fail(error, path + ": missing object \"set\"");
  for (auto& [key, value] : j["set"].items()) {
    if (value.is_string())
      fx.set[key] = value.get<std::string>();
    else if (value.is_number())
      fx.set[key] = value.dump(); // 64 -> "64", 0.5 -> "0.5"
    else
      return fail(error, path + ": \"set\"." + key + " is neither a number nor a string");
  }
  if (j.contains("zero_gradient_slices")) {
    const auto& list = j["zero_gradient_slices"];
    if (!list.is_array()) return fail(error, path + ": \"zero_gradient_slices\" is not an array");
    for (const auto& e : list) {
      if (!e.is_object() || !e.contains("param") || !e["param"].is_string() ||
          !e.contains("start") || !e["start"].is_number_integer() || !e.contains("end") ||
          !e["end"].is_number_integer())
        return fail(error, path + ": malformed \"zero_gradient_slices\" entry");
      fx.zeroGradientSlices.push_back(
          {e["param"].get<std::string>(), e["start"].get<int64_t>(), e["end"].get<int64_t>()});
    }
  }
  return true;
}

} // namespace fixture_detail

/// Loads `<pathWithoutExtension>.fix` and `<pathWithoutExtension>.json`. On any problem (missing
/// file, bad magic, truncated or trailing data, unknown dtype, duplicate name, malformed json)
/// returns nullopt and, if `error` is not null, stores a one-line reason naming the file.
inline std::optional<Fixture> loadFixture(const std::string& pathWithoutExtension,
                                          std::string* error) {
  Fixture fx;
  std::vector<unsigned char> bytes;
  const std::string fixPath = pathWithoutExtension + ".fix";
  const std::string jsonPath = pathWithoutExtension + ".json";
  if (!fixture_detail::readFile(fixPath, bytes, error)) return std::nullopt;
  if (!fixture_detail::parseFix(fixPath, bytes, fx, error)) return std::nullopt;
  if (!fixture_detail::readFile(jsonPath, bytes, error)) return std::nullopt;
  if (!fixture_detail::parseJson(jsonPath, bytes, fx, error)) return std::nullopt;
  return fx;
}

} // namespace gptc
