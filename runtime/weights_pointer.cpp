// runtime/weights_pointer.cpp — model.ckpt as a pointer to the final step folder's weights (see
// weights_pointer.h).
#include "runtime/weights_pointer.h"

#include <filesystem>

namespace gptc {

namespace fs = std::filesystem;

namespace {

constexpr char kKey[] = "\"weights\":\"";

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
  if (json.size() < 2 || json.front() != '{' || json.back() != '}')
    return ioError(path, "the run's metadata is not a JSON object");
  fs::path base = fs::absolute(fs::path(path)).parent_path();
  std::string rel = fs::absolute(fs::path(target)).lexically_relative(base).generic_string();
  if (rel.empty()) return ioError(path, "cannot name " + target + " relative to it");
  GptcCheckpoint ck;
  ck.metadata = json.substr(0, json.size() - 1) + (json.size() > 2 ? "," : "") +
                "\"weights\":" + jsonString(rel) + "}";
  return writeGptcCheckpoint(path, ck);
} catch (const std::exception& e) {
  return ioError(path, e.what());
}

std::optional<IoResult<std::string>> weightsPointerTarget(const std::string& path,
                                                          const GptcCheckpoint& ck) {
  if (!ck.tensors.empty()) return std::nullopt;
  size_t at = ck.metadata.find(kKey);
  if (at == std::string::npos) return std::nullopt;
  std::string rel;
  for (size_t i = at + sizeof kKey - 1; i < ck.metadata.size() && ck.metadata[i] != '"'; ++i) {
    if (ck.metadata[i] == '\\' && i + 1 < ck.metadata.size()) ++i;
    rel += ck.metadata[i];
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
