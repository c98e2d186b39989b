// einsum spec parsing (see einsum.h for the rules).
#include "ir/einsum.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>

namespace gptc {
namespace {

Diag err(std::string msg) {
  return Diag{{}, std::move(msg)};
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

/// "b t h d" -> {"b","t","h","d"}; an error names the first bad word.
Expected<std::vector<std::string>> axes(const std::string& part, const std::string& what) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < part.size()) {
    if (part[i] == ' ' || part[i] == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < part.size() && part[j] != ' ' && part[j] != '\t')
      ++j;
    std::string w = part.substr(i, j - i);
    bool ok = std::isalpha((unsigned char)w[0]) || w[0] == '_';
    for (char c : w)
      ok = ok && (std::isalnum((unsigned char)c) || c == '_');
    if (!ok)
      return err(
          fmt::format("einsum: '{}' in {} is not an axis name (a letter or '_', then letters, "
                      "digits, '_'; names are separated by spaces)",
                      w, what));
    if (std::find(out.begin(), out.end(), w) != out.end())
      return err(fmt::format("einsum: axis '{}' appears twice in {} (diagonals are not supported)",
                             w, what));
    out.push_back(w);
    i = j;
  }
  return out;
}

} // namespace

Shape EinsumSpec::outputShape() const {
  Shape s;
  for (const std::string& a : output)
    s.push_back(sizes.at(a));
  return s;
}

std::vector<int64_t> EinsumSpec::stridesFor(int k, const std::vector<std::string>& names) const {
  const std::vector<std::string>& in = inputs[size_t(k)];
  std::vector<int64_t> own(in.size(), 1);
  for (size_t d = in.size(); d-- > 1;)
    own[d - 1] = own[d] * sizes.at(in[d]);
  std::vector<int64_t> out;
  for (const std::string& n : names) {
    auto it = std::find(in.begin(), in.end(), n);
    out.push_back(it == in.end() ? 0 : own[size_t(it - in.begin())]);
  }
  return out;
}

Expected<EinsumSpec> parseEinsum(const std::string& spec, const std::vector<TensorType>& operands) {
  size_t arrow = spec.find("->");
  if (arrow == std::string::npos || spec.find("->", arrow + 2) != std::string::npos)
    return err(fmt::format("einsum: spec \"{}\" needs one '->' between the operands and the output "
                           "(e.g. \"b t c, c d -> b t d\")",
                           spec));
  std::string lhs = spec.substr(0, arrow), rhs = spec.substr(arrow + 2);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    parts.push_back(
        trim(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts.size() != operands.size())
    return err(fmt::format("einsum: spec \"{}\" names {} operand{} but the op has {}", spec,
                           parts.size(), parts.size() == 1 ? "" : "s", operands.size()));
  EinsumSpec s;
  for (size_t k = 0; k < parts.size(); ++k) {
    std::string what = fmt::format("operand {} (\"{}\")", k, parts[k]);
    Expected<std::vector<std::string>> names = axes(parts[k], what);
    if (!names) return names.error();
    const TensorType& t = operands[k];
    if (t.dtype != DType::f32)
      return err(fmt::format("einsum: operand {} must be f32, got {}", k, typeToString(t)));
    if (names->size() != t.shape.size())
      return err(fmt::format("einsum: operand {} is {} (rank {}) but \"{}\" names {} ax{}", k,
                             typeToString(t), t.shape.size(), parts[k], names->size(),
                             names->size() == 1 ? "is" : "es"));
    for (size_t d = 0; d < names->size(); ++d) {
      const std::string& a = (*names)[d];
      auto it = s.sizes.find(a);
      if (it != s.sizes.end() && it->second != t.shape[d]) {
        size_t first = 0;
        while (std::find(s.inputs[first].begin(), s.inputs[first].end(), a) ==
               s.inputs[first].end())
          ++first;
        return err(
            fmt::format("einsum: axis '{}' is {} in operand {} but {} in operand {} (sizes must "
                        "agree; einsum does not broadcast)",
                        a, it->second, first, t.shape[d], k));
      }
      s.sizes[a] = t.shape[d];
    }
    s.inputs.push_back(*names);
  }
  Expected<std::vector<std::string>> out =
      axes(trim(rhs), fmt::format("the output (\"{}\")", trim(rhs)));
  if (!out) return out.error();
  for (const std::string& a : *out)
    if (!s.sizes.count(a))
      return err(
          fmt::format("einsum: output axis '{}' is not an axis of any operand (unknown axis)", a));
  s.output = *out;
  for (const auto& in : s.inputs)
    for (const std::string& a : in)
      if (std::find(s.output.begin(), s.output.end(), a) == s.output.end() &&
          std::find(s.summed.begin(), s.summed.end(), a) == s.summed.end())
        s.summed.push_back(a);
  return s;
}

} // namespace gptc
