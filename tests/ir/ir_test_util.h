// Helpers shared by the IR tests: reading files, listing a folder's .graph files, splitting text
// into lines the way the parser does, and a parse-or-fail wrapper. The tests themselves say what
// they check.
#pragma once
#include "ir/parser.h"

#include <algorithm>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace gptc::irtest {

inline std::string sourcePath(const std::string& rel) {
  return std::string(GPTC_SOURCE_DIR) + "/" + rel;
}

inline std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

/// Every `*.graph` file in a folder, sorted so test output is stable.
inline std::vector<std::string> graphFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().extension() == ".graph") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

/// Lines as the parser numbers them: split at '\n', a trailing '\r' dropped.
inline std::vector<std::string> splitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(line);
  }
  return lines;
}

/// Parses text that must be valid; a failure stops the test with the rendered diagnostic.
inline Graph mustParse(const std::string& text, const std::string& file,
                       const ConstOverrides& set = {}) {
  Expected<Graph> g = parseGraph(text, file, set);
  REQUIRE_MESSAGE(bool(g), (g ? std::string() : g.error().render()));
  return std::move(*g);
}

/// The three models with constants small enough to expand in milliseconds.
inline ConstOverrides smallConstants(const std::string& modelPath) {
  if (modelPath.find("gpt2") != std::string::npos)
    return {{"V", "100"}, {"Vp", "128"}, {"maxT", "32"}, {"L", "2"},
            {"NH", "4"},  {"C", "64"},   {"B", "2"},     {"T", "16"}};
  if (modelPath.find("chargpt") != std::string::npos)
    return {{"maxT", "32"}, {"L", "2"}, {"NH", "4"}, {"C", "32"}, {"B", "2"}, {"T", "16"}};
  if (modelPath.find("llama.graph") != std::string::npos)
    return {{"L", "2"}, {"NH", "4"}, {"C", "32"}, {"F", "64"}, {"B", "2"}, {"T", "16"}};
  if (modelPath.find("attention_log") != std::string::npos)
    return {{"L", "1"}, {"C", "16"}, {"F", "32"}, {"B", "2"}, {"T", "5"}};
  if (modelPath.find("seq2seq") != std::string::npos)
    return {{"D", "16"}, {"H", "2"}, {"F", "32"}, {"LE", "1"},
            {"LD", "2"}, {"B", "2"}, {"S", "5"},  {"T", "6"}};
  return {};
}

} // namespace gptc::irtest
