// runtime/train/train_checkpoint.cpp — step folders written atomically, found and read back (see
// train_checkpoint.h).
#include "runtime/train/train_checkpoint.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <unistd.h>

namespace gptc {

namespace fs = std::filesystem;

namespace {

constexpr char kStateHeader[] = "gptc-train-state 1";
constexpr char kTrainCurve[] = "gptc.curve.train", kValCurve[] = "gptc.curve.val";

IoStatus fsyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ioError(path, std::strerror(errno));
  int rc = ::fsync(fd);
  int e = errno;
  ::close(fd);
  if (rc != 0) return ioError(path, std::string("fsync: ") + std::strerror(e));
  return {};
}

/// The step of a folder named step_<8+ digits>, or -1.
int64_t stepOfName(const std::string& name) {
  if (name.size() < 13 || name.rfind("step_", 0) != 0) return -1;
  int64_t v = 0;
  auto [p, ec] = std::from_chars(name.data() + 5, name.data() + name.size(), v);
  if (ec != std::errc() || p != name.data() + name.size() || v < 0) return -1;
  return v;
}

/// Step folders under root, oldest first.
std::vector<std::pair<int64_t, fs::path>> stepFolders(const std::string& root) {
  std::vector<std::pair<int64_t, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    int64_t s = stepOfName(it->path().filename().string());
    if (s >= 0 && it->is_directory(ec)) out.emplace_back(s, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

NamedTensor curveTensor(const char* name, const std::vector<LossPoint>& curve) {
  NamedTensor t{name, {int64_t(curve.size()), 2}, {}};
  for (const LossPoint& p : curve) {
    t.data.push_back(float(p.step)); // exact below 2^24 steps (checked on write)
    t.data.push_back(p.loss);
  }
  return t;
}

IoResult<std::vector<LossPoint>> curveOf(const std::string& where, const NamedTensor* t) {
  if (!t) return ioError(where, "the state has no loss curve");
  if (t->shape.size() != 2 || t->shape[1] != 2)
    return ioError(where, fmt::format("`{}` is not [N, 2]", t->name));
  std::vector<LossPoint> out;
  for (int64_t k = 0; k < t->shape[0]; ++k) {
    float s = t->data[size_t(2 * k)];
    if (!(s >= 0) || s != std::floor(s) || s > float(1 << 24))
      return ioError(where, fmt::format("`{}` row {} has step {}", t->name, k, s));
    out.push_back({int64_t(s), t->data[size_t(2 * k + 1)]});
  }
  return out;
}

} // namespace

std::string checkpointFolderName(int64_t step) {
  return fmt::format("step_{:08d}", step);
}

IoStatus writeTrainCheckpoint(const std::string& root, const TrainCheckpoint& c, int keep,
                              std::string* folder) try {
  if (keep < 1) return ioError(root, "keep at least 1 checkpoint");
  if (c.step < 0 || c.step >= (int64_t(1) << 24)) return ioError(root, "step out of range");
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) return ioError(root, ec.message());
  // Leftovers of a write or a prune that a crash interrupted.
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::string n = it->path().filename().string();
    if (n.rfind(".step_", 0) == 0) fs::remove_all(it->path(), ec);
  }
  const std::string name = checkpointFolderName(c.step);
  const fs::path tmp = fs::path(root) / ("." + name + ".tmp");
  const fs::path final = fs::path(root) / name;
  fs::create_directories(tmp, ec);
  if (ec) return ioError(tmp.string(), ec.message());
  // A failed write (a full disk) leaves nothing behind; after the rename there is nothing to
  // remove.
  struct RemoveOnExit {
    fs::path path;
    ~RemoveOnExit() {
      std::error_code e;
      fs::remove_all(path, e);
    }
  } cleanup{tmp};

  // model.bin
  if (c.gpt2) {
    Gpt2Weights w;
    w.config = *c.gpt2;
    for (const LlmcTensorSpec& spec : llmcTensorSpecs(*c.gpt2)) {
      auto it = std::find_if(c.params.begin(), c.params.end(),
                             [&](const NamedTensor& t) { return t.name == spec.name; });
      if (it == c.params.end()) return ioError(root, "the GPT-2 model has no `" + spec.name + "`");
      w.tensors.push_back(*it);
    }
    if (IoStatus st = writeLlmcCheckpoint((tmp / "model.bin").string(), w); !st) return st;
  } else {
    GptcCheckpoint m;
    m.metadata = "gptc-train-params 1";
    m.tensors = c.params;
    if (IoStatus st = writeGptcCheckpoint((tmp / "model.bin").string(), m); !st) return st;
  }
  // state.bin
  GptcCheckpoint s;
  s.metadata =
      fmt::format("{}\nstep={}\nparams={}\n", kStateHeader, c.step, c.gpt2 ? "llmc" : "gptc");
  for (const auto& [k, v] : c.info) {
    if (k.empty() || k.find_first_of("=\n") != std::string::npos ||
        v.find('\n') != std::string::npos || k == "step" || k == "params")
      return ioError(root, "bad checkpoint info key `" + k + "`");
    s.metadata += k + "=" + v + "\n";
  }
  s.tensors = c.optimizer;
  s.tensors.push_back(curveTensor(kTrainCurve, c.trainCurve));
  s.tensors.push_back(curveTensor(kValCurve, c.valCurve));
  if (IoStatus st = writeGptcCheckpoint((tmp / "state.bin").string(), s); !st) return st;

  // Into place. An existing folder of the same step (a resumed run saving it again) is moved
  // aside first: rename(2) does not replace a non-empty directory.
  if (fs::exists(final, ec)) {
    fs::path old = fs::path(root) / ("." + name + ".old");
    fs::rename(final, old, ec);
    if (ec) return ioError(final.string(), ec.message());
    fs::rename(tmp, final, ec);
    if (ec) return ioError(final.string(), ec.message());
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp, final, ec);
    if (ec) return ioError(final.string(), ec.message());
  }
  if (IoStatus st = fsyncDir(root); !st) return st;
  if (folder) *folder = final.string();

  // Keep the newest `keep`: rename each victim to a hidden name first, so a crash mid-delete
  // never leaves a half-deleted folder that looks like a checkpoint.
  auto all = stepFolders(root);
  for (size_t k = 0; k + size_t(keep) < all.size(); ++k) {
    fs::path doomed = fs::path(root) / ("." + all[k].second.filename().string() + ".del");
    fs::rename(all[k].second, doomed, ec);
    if (!ec) fs::remove_all(doomed, ec);
  }
  return {};
} catch (const std::exception& e) {
  return ioError(root, e.what());
}

IoResult<std::string> latestCheckpoint(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return ioError(root, "no such checkpoint folder");
  auto all = stepFolders(root);
  if (all.empty()) return ioError(root, "no checkpoint (step_* folder) in it");
  return all.back().second.string();
}

IoResult<TrainCheckpoint> readTrainCheckpoint(const std::string& folder) try {
  const std::string statePath = folder + "/state.bin", modelPath = folder + "/model.bin";
  IoResult<GptcCheckpoint> s = readGptcCheckpoint(statePath);
  if (!s) return s.ioError();
  TrainCheckpoint c;
  // key=value lines after the header line.
  std::string_view meta = s->metadata;
  size_t nl = meta.find('\n');
  if (meta.substr(0, nl) != kStateHeader)
    return ioError(statePath,
                   fmt::format("not a gptc training state (expected `{}` first)", kStateHeader));
  while (nl != std::string_view::npos && nl + 1 < meta.size()) {
    size_t end = meta.find('\n', nl + 1);
    std::string_view line = meta.substr(nl + 1, end == std::string_view::npos ? end : end - nl - 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0)
      return ioError(statePath, fmt::format("bad state line `{}`", line));
    c.info[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    nl = end;
  }
  auto stepIt = c.info.find("step");
  if (stepIt == c.info.end()) return ioError(statePath, "the state has no step");
  const std::string& st = stepIt->second;
  auto [p, ec] = std::from_chars(st.data(), st.data() + st.size(), c.step);
  if (ec != std::errc() || p != st.data() + st.size() || c.step < 0)
    return ioError(statePath, "the state's step `" + st + "` is not a count");
  std::string paramsFormat = c.info["params"];
  c.info.erase("step");
  c.info.erase("params");

  IoResult<std::vector<LossPoint>> tc = curveOf(statePath, s->find(kTrainCurve));
  if (!tc) return tc.ioError();
  IoResult<std::vector<LossPoint>> vc = curveOf(statePath, s->find(kValCurve));
  if (!vc) return vc.ioError();
  c.trainCurve = std::move(*tc);
  c.valCurve = std::move(*vc);
  for (NamedTensor& t : s->tensors)
    if (t.name != kTrainCurve && t.name != kValCurve) c.optimizer.push_back(std::move(t));

  if (paramsFormat == "llmc") {
    IoResult<Gpt2Weights> w = readLlmcCheckpoint(modelPath);
    if (!w) return w.ioError();
    c.gpt2 = w->config;
    c.params = std::move(w->tensors);
  } else if (paramsFormat == "gptc") {
    IoResult<GptcCheckpoint> m = readGptcCheckpoint(modelPath);
    if (!m) return m.ioError();
    c.params = std::move(m->tensors);
  } else {
    return ioError(statePath, "the state's params format `" + paramsFormat + "` is unknown");
  }
  return c;
} catch (const std::exception& e) {
  return ioError(folder, e.what());
}

} // namespace gptc
