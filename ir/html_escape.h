// ir/html_escape.h — the one escape for text gptc writes into HTML and SVG (the memory plan's SVG,
// the loss curve, the attention heatmaps, `gptc report`'s page): & < > and " become entities, so a
// file name, a --set value or a token can sit in element text and in a quoted attribute alike.
//
// It lives in ir/ only because ir/ is the layer every writer of such files depends on
// (passes/svg_memory, runtime/train/progress, runtime/trace/trace, tools/cmd_report); it knows
// nothing of the graph. What it leaves to others: the markup itself.
#pragma once
#include <string>
#include <string_view>

namespace gptc {

/// `s` with & < > " replaced by &amp; &lt; &gt; &quot;.
inline std::string htmlEscape(std::string_view s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '<':
      o += "&lt;";
      break;
    case '>':
      o += "&gt;";
      break;
    case '&':
      o += "&amp;";
      break;
    case '"':
      o += "&quot;";
      break;
    default:
      o += c;
    }
  }
  return o;
}

} // namespace gptc
