// runtime/formats/weights_pointer.cpp — model.ckpt as a pointer to the final step folder's weights
// (see weights_pointer.h).
#include "runtime/formats/weights_pointer.h"

#include <filesystem>

namespace gptc {

namespace fs = std::filesystem;

namespace {

constexpr char kKey[] = "\"weights\":\"";
constexpr char kCardKey[] = "weights=";

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

} // namespace

IoStatus writeWeightsPointer(const std::string& path, const std::string& json,
                             const std::string& target) try {
  fs::path base = fs::absolute(fs::path(path)).parent_path();
  std::string rel = fs::absolute(fs::path(target)).lexically_relative(base).generic_string();
  if (rel.empty()) return ioError(path, "cannot name " + target + " relative to it");
  if (rel.find('\n') != std::string::npos)
    return ioError(path, "the weights' path has a line break");
  GptcCheckpoint ck;
  if (!json.empty() && json.front() == '{') { // JSON metadata (before the run card)
    if (json.size() < 2 || json.back() != '}')
      return ioError(path, "the run's metadata is not a JSON object");
    ck.metadata = json.substr(0, json.size() - 1) + (json.size() > 2 ? "," : "") +
                  "\"weights\":" + jsonString(rel) + "}";
  } else { // the run card's `key=value` lines (runtime/formats/run_card.h)
    ck.metadata = json + (json.empty() || json.back() == '\n' ? "" : "\n") + kCardKey + rel + "\n";
  }
  return writeGptcCheckpoint(path, ck);
} catch (const std::exception& e) {
  return ioError(path, e.what());
}

std::optional<IoResult<std::string>> weightsPointerTarget(const std::string& path,
                                                          const GptcCheckpoint& ck) {
  if (!ck.tensors.empty()) return std::nullopt;
  std::string rel;
  if (size_t at = ck.metadata.find(kKey); at != std::string::npos) {
    for (size_t i = at + sizeof kKey - 1; i < ck.metadata.size() && ck.metadata[i] != '"'; ++i) {
      if (ck.metadata[i] == '\\' && i + 1 < ck.metadata.size()) ++i;
      rel += ck.metadata[i];
    }
  } else if (size_t line = ck.metadata.rfind(std::string("\n") + kCardKey);
             line != std::string::npos) {
    size_t from = line + 1 + sizeof kCardKey - 1, to = ck.metadata.find('\n', from);
    rel = ck.metadata.substr(from, to == std::string::npos ? std::string::npos : to - from);
  } else {
    return std::nullopt;
  }
  fs::path target = fs::path(path).parent_path() / rel;
  std::error_code ec;
  if (!fs::is_regular_file(target, ec))
    return IoResult<std::string>(
        ioError(path, "its weights are in " + target.generic_string() +
                          ", which is missing (the step folder was pruned or moved; a run into "
                          "the same --out writes both anew)"));
  return IoResult<std::string>(target.string());
}

} // namespace gptc
