#include "ir/ops.h"

#include <cmath>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>

namespace gptc {
namespace {

struct RawRow {
  OpKind kind;
  const char* name;
  const char* operands;
  const char* attrs;
  FusionCategory category;
  bool inPlace;
};

constexpr RawRow kRows[] = {
#define OP(E, NAME, OPERANDS, ATTRS, CAT, INPLACE)                                                   \
  {OpKind::E, NAME, OPERANDS, ATTRS, FusionCategory::CAT, INPLACE},
#include "ir/ops.def"
#undef OP
};
static_assert(sizeof(kRows) / sizeof(kRows[0]) == kNumOpKinds);

std::vector<std::string> splitComma(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

AttrValue parseDefault(AttrKind kind, const std::string& text) {
  if (kind == AttrKind::Int) return int64_t(std::strtoll(text.c_str(), nullptr, 10));
  if (kind == AttrKind::Float) {
    if (text == "-inf") return -std::numeric_limits<double>::infinity();
    return std::strtod(text.c_str(), nullptr);
  }
  if (kind == AttrKind::String) return text;
  return std::vector<int64_t>{};
}

std::vector<OpInfo> buildTable() {
  std::vector<OpInfo> table;
  for (const RawRow& row : kRows) {
    OpInfo info{row.kind, row.name, {}, false, false, 0, {}, row.category, row.inPlace};
    for (std::string op : splitComma(row.operands)) {
      OperandSpec spec;
      if (!op.empty() && op.back() == '*') {
        info.variadic = true;
        op.pop_back();
      }
      if (!op.empty() && op.back() == '?') {
        info.optional = true;
        info.optionalCount++;
        op.pop_back();
      }
      if (!op.empty() && op.front() == '!') {
        spec.differentiable = false;
        op.erase(op.begin());
      }
      spec.name = op;
      info.operands.push_back(spec);
    }
    for (const std::string& a : splitComma(row.attrs)) {
      size_t colon = a.find(':');
      AttrSpec spec;
      spec.name = a.substr(0, colon);
      char k = a[colon + 1];
      spec.kind = k == 'i'   ? AttrKind::Int
                  : k == 'f' ? AttrKind::Float
                  : k == 's' ? AttrKind::String
                             : AttrKind::IntList;
      size_t eq = a.find('=');
      if (eq != std::string::npos) spec.defaultValue = parseDefault(spec.kind, a.substr(eq + 1));
      info.attrs.push_back(spec);
    }
    table.push_back(std::move(info));
  }
  return table;
}

const std::vector<OpInfo>& table() {
  static const std::vector<OpInfo> t = buildTable();
  return t;
}

} // namespace

const char* fusionCategoryName(FusionCategory c) {
  switch (c) {
  case FusionCategory::ElemWise: return "elementwise";
  case FusionCategory::Broadcast: return "broadcast";
  case FusionCategory::Injective: return "injective";
  case FusionCategory::Reduce: return "reduction";
  case FusionCategory::OutEWiseFusable: return "out-elementwise-fusable";
  case FusionCategory::Opaque: return "opaque";
  }
  return "?";
}

std::string OpInfo::operandList() const {
  std::string s;
  for (size_t i = 0; i < operands.size(); ++i) {
    s += (i ? ", " : "") + operands[i].name;
    if (i + size_t(optionalCount) >= operands.size()) s += "?"; // each optional one marked
  }
  if (variadic) s += "...";
  return s;
}

bool OpInfo::acceptsOperandCount(size_t n) const {
  size_t want = operands.size();
  if (variadic) return n >= want;
  if (optional) return n <= want && n + size_t(optionalCount) >= want;
  return n == want;
}

std::string OpInfo::operandCountText() const {
  size_t want = operands.size();
  if (variadic) return fmt::format("at least {}", want);
  if (optional && optionalCount > 1)
    return fmt::format("{} to {}", want - size_t(optionalCount), want);
  if (optional) return fmt::format("{} or {}", want - 1, want);
  return fmt::format("{}", want);
}

const OpInfo& opInfo(OpKind k) { return table()[static_cast<size_t>(k)]; }

std::optional<OpKind> opKindByName(std::string_view name) {
  for (const OpInfo& info : table())
    if (info.name == name) return info.kind;
  return std::nullopt;
}

int64_t attrInt(const Attrs& a, const std::string& name) { return std::get<int64_t>(a.at(name)); }
double attrFloat(const Attrs& a, const std::string& name) { return std::get<double>(a.at(name)); }
const std::vector<int64_t>& attrInts(const Attrs& a, const std::string& name) {
  return std::get<std::vector<int64_t>>(a.at(name));
}
const std::string& attrString(const Attrs& a, const std::string& name) {
  return std::get<std::string>(a.at(name));
}

std::string attrValueToString(const AttrValue& v) {
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* s = std::get_if<std::string>(&v)) return "\"" + *s + "\""; // no quotes or newlines inside
  if (auto* d = std::get_if<double>(&v)) {
    if (std::isinf(*d)) return *d < 0 ? "-inf" : "inf";
    std::string s = fmt::format("{}", *d); // shortest text that reads back to the same double
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
    return s;
  }
  const auto& list = std::get<std::vector<int64_t>>(v);
  std::string s = "[";
  for (size_t i = 0; i < list.size(); ++i) s += (i ? ", " : "") + std::to_string(list[i]);
  return s + "]";
}

} // namespace gptc
