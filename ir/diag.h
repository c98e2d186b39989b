// Diagnostics: errors are values at every boundary (parse, expand, verify, load). A Diag renders as
//   file:line:col: error: message
//     <the source line>
//     <caret under the column>
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace gptc {

/// A position in a source file. `line`/`col` are 1-based; 0 means unknown.
struct SourceLoc {
  std::string file;
  int line = 0;
  int col = 0;
  bool known() const { return line > 0; }
  bool operator==(const SourceLoc&) const = default;
};

struct Diag {
  SourceLoc loc;
  std::string message;
  std::string lineText; // the offending source line, for the caret; may be empty

  /// "file:line:col: error: message" plus the line and a caret when known.
  std::string render() const;
};

/// A value or a diagnostic (std::expected is C++23; this is the part we need).
template <class T> class Expected {
public:
  Expected(T v) : v_(std::move(v)) {}
  Expected(Diag d) : v_(std::move(d)) {}
  explicit operator bool() const { return v_.index() == 0; }
  T& operator*() { return std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const Diag& error() const { return std::get<1>(v_); }

private:
  std::variant<T, Diag> v_;
};

/// Thrown inside the parser/expander only; converted to a Diag at the boundary. Never crosses LLVM.
struct DiagError {
  Diag diag;
};

} // namespace gptc
