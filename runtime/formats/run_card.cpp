// runtime/formats/run_card.cpp — the run card's key=value form (see run_card.h).
#include "runtime/formats/run_card.h"

#include <charconv>
#include <fmt/format.h>
#include <sstream>

namespace gptc {
namespace {

const char* const kOptimizerKeys[] = {"lr",           "min_lr_fraction", "warmup", "lr_schedule",
                                      "weight_decay", "beta1",           "beta2",  "eps",
                                      "grad_clip"};

/// A value on one line: newlines and backslashes escaped.
std::string escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out += s[i + 1] == 'n' ? '\n' : s[i + 1];
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// A JSON string field ({"model":"...","sets":"..."}) of checkpoints written before the card.
std::string legacyJsonField(const std::string& json, const std::string& key) {
  std::string pat = "\"" + key + "\":\"";
  size_t b = json.find(pat);
  if (b == std::string::npos) return "";
  std::string out;
  for (size_t i = b + pat.size(); i < json.size() && json[i] != '"'; ++i) {
    if (json[i] == '\\' && i + 1 < json.size()) ++i;
    out += json[i];
  }
  return out;
}

const char kHeader[] = "# gptc run card: what this run was (runtime/formats/run_card.h)";

template <class Int> bool parseInt(const std::string& s, Int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

} // namespace

std::map<std::string, std::string> RunCard::toInfo() const {
  std::string joined;
  for (const std::string& s : sets)
    joined += s + " "; // as runs before the card wrote it: every assignment followed by a space
  std::map<std::string, std::string> info = {{"model", model},
                                             {"sets", joined},
                                             {"B", fmt::format("{}", B)},
                                             {"T", fmt::format("{}", T)},
                                             {"seed", fmt::format("{}", seed)},
                                             {"steps", fmt::format("{}", steps)},
                                             {"data_tokens", fmt::format("{}", dataTokens)}};
  if (!modelHash.empty()) info["model_hash"] = modelHash;
  if (!modelSource.empty()) info["model_source"] = escape(modelSource);
  for (const auto& [k, v] : optimizer)
    info[k] = v;
  return info;
}

IoResult<RunCard> RunCard::fromInfo(const std::map<std::string, std::string>& info) {
  RunCard c;
  auto get = [&](const char* key) {
    auto it = info.find(key);
    return it == info.end() ? std::string() : it->second;
  };
  c.model = get("model");
  c.modelHash = get("model_hash");
  c.modelSource = unescape(get("model_source"));
  std::istringstream ss(get("sets"));
  for (std::string kv; ss >> kv;)
    c.sets.push_back(kv);
  struct {
    const char* key;
    int64_t* value;
  } ints[] = {{"B", &c.B}, {"T", &c.T}, {"steps", &c.steps}, {"data_tokens", &c.dataTokens}};
  for (auto& [key, value] : ints)
    if (std::string s = get(key); !s.empty() && !parseInt(s, value))
      return ioError("run card", fmt::format("{} = '{}' is not an integer", key, s));
  if (std::string s = get("seed"); !s.empty() && !parseInt(s, &c.seed))
    return ioError("run card", fmt::format("seed = '{}' is not an integer", s));
  for (const char* key : kOptimizerKeys)
    if (info.count(key)) c.optimizer[key] = get(key);
  return c;
}

std::vector<std::string> RunCard::assignments() const {
  std::vector<std::string> out = sets;
  if (B > 0) out.push_back(fmt::format("B={}", B));
  if (T > 0) out.push_back(fmt::format("T={}", T));
  return out;
}

std::string modelSourceHash(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

std::string RunCard::toText(const std::map<std::string, std::string>& extra) const {
  std::string text = std::string(kHeader) + "\n";
  for (const auto& [k, v] : toInfo())
    text += k + "=" + v + "\n";
  for (const auto& [k, v] : extra)
    text += k + "=" + escape(v) + "\n";
  return text;
}

IoResult<RunCard> RunCard::fromText(const std::string& text) {
  if (!text.empty() && text[0] == '{') { // before the card: {"model":"...","sets":"...",...}
    RunCard c;
    c.model = legacyJsonField(text, "model");
    std::istringstream ss(legacyJsonField(text, "sets"));
    for (std::string kv; ss >> kv;)
      c.sets.push_back(kv);
    return c;
  }
  std::map<std::string, std::string> info;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      return ioError("run card", fmt::format("not key=value: '{}'", line));
    info[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return fromInfo(info);
}

IoStatus writeRunCard(const std::string& path, const RunCard& card) {
  return writeFileAtomic(path, card.toText());
}

IoResult<RunCard> readRunCard(const std::string& path) {
  IoResult<std::string> text = readFileText(path, uint64_t(16) << 20);
  if (!text) return text.ioError();
  IoResult<RunCard> card = RunCard::fromText(*text);
  if (!card) return ioError(path, card.error());
  return card;
}

} // namespace gptc
