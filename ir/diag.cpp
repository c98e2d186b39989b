#include "ir/diag.h"

#include <algorithm>
#include <fmt/format.h>

namespace gptc {

namespace {

// A diagnostic is one line and a caret, whatever the input: a 10 MB identifier is shown cut.
constexpr size_t kMaxMessageBytes = 240;
constexpr size_t kMaxLineBytes = 160;

std::string clip(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  return s.substr(0, max) + fmt::format("... ({} more bytes)", s.size() - max);
}

} // namespace

std::string Diag::render() const {
  std::string out;
  const std::string msg = clip(message, kMaxMessageBytes);
  const std::string file = clip(loc.file, kMaxMessageBytes);
  if (loc.known())
    out = fmt::format("{}:{}:{}: error: {}", file, loc.line, loc.col, msg);
  else if (!loc.file.empty())
    out = fmt::format("{}: error: {}", file, msg);
  else
    out = fmt::format("error: {}", msg);
  if (!lineText.empty() && loc.col > 0) {
    // A window of the line around the column when the line is long.
    size_t col = size_t(loc.col) - 1, begin = 0, end = lineText.size();
    if (lineText.size() > kMaxLineBytes) {
      begin = col > kMaxLineBytes / 2 ? std::min(col - kMaxLineBytes / 2, end - kMaxLineBytes) : 0;
      end = begin + kMaxLineBytes;
    }
    std::string shown = (begin > 0 ? "..." : "") + lineText.substr(begin, end - begin) +
                        (end < lineText.size() ? "..." : "");
    size_t caret = col - std::min(col, begin) + (begin > 0 ? 3 : 0);
    out += "\n  " + shown + "\n  ";
    for (size_t i = 0; i < caret; ++i)
      out += i < shown.size() && shown[i] == '\t' ? '\t' : ' ';
    out += "^";
  }
  return out;
}

} // namespace gptc
