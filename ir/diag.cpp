#include "ir/diag.h"

#include <fmt/format.h>

namespace gptc {

std::string Diag::render() const {
  std::string out;
  if (loc.known())
    out = fmt::format("{}:{}:{}: error: {}", loc.file, loc.line, loc.col, message);
  else if (!loc.file.empty())
    out = fmt::format("{}: error: {}", loc.file, message);
  else
    out = fmt::format("error: {}", message);
  if (!lineText.empty() && loc.col > 0) {
    out += "\n  " + lineText + "\n  ";
    for (int i = 1; i < loc.col; ++i) out += lineText.size() >= size_t(i) && lineText[i - 1] == '\t' ? '\t' : ' ';
    out += "^";
  }
  return out;
}

} // namespace gptc
