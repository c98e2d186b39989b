// tools/dot_render.cpp — see dot_render.h. Temporary files rather than a pipe pair: `dot` may
// write a large SVG before it has read all its input.
#include "tools/dot_render.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace gptc::tools {

bool haveGraphviz() {
  return std::system("command -v dot >/dev/null 2>&1") == 0;
}

std::string renderDot(const std::string& dot, std::string* svg) {
  if (!haveGraphviz())
    return "Graphviz is not installed (apt-get install graphviz); --emit=dot prints the dot text";
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  if (ec) return "no temporary directory: " + ec.message();
  std::string stem = (dir / ("gptc-dot-" + std::to_string(::getpid()))).string();
  std::string in = stem + ".dot", out = stem + ".svg";
  {
    std::ofstream f(in, std::ios::binary);
    f << dot;
    if (!f) return "cannot write " + in;
  }
  std::string cmd = "dot -Tsvg '" + in + "' -o '" + out + "' 2>/dev/null";
  int rc = std::system(cmd.c_str());
  fs::remove(in, ec);
  if (rc != 0) {
    fs::remove(out, ec);
    return "Graphviz's dot failed (exit status " + std::to_string(rc) + ")";
  }
  std::ifstream f(out, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  *svg = ss.str();
  fs::remove(out, ec);
  return "";
}

} // namespace gptc::tools
