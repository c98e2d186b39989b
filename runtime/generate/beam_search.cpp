// runtime/generate/beam_search.cpp — beam search with length normalisation (see beam_search.h).
#include "runtime/generate/beam_search.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>

namespace gptc {
namespace {

struct Hyp {
  std::vector<int32_t> tokens;
  double logp = 0;
};

double normalised(const Hyp& h, double alpha) {
  return h.logp / std::pow(double(std::max<size_t>(1, h.tokens.size())), alpha);
}

/// Reorders the batch rows (axis 0) of every cache in the decode step: row r <- row from[r].
std::string gatherCaches(StepEngine& e, const std::vector<int>& from) {
  for (const Update& u : e.graph().updates) {
    const std::string& name = e.graph().value(u.state).name;
    Tensor c;
    if (std::string err = e.read(name, &c); !err.empty()) return err;
    int64_t rowSize = c.numel() / c.type.shape[0];
    Tensor g(c.type);
    for (size_t r = 0; r < from.size(); ++r)
      std::copy(c.f.begin() + from[r] * rowSize, c.f.begin() + (from[r] + 1) * rowSize,
                g.f.begin() + int64_t(r) * rowSize);
    if (std::string err = e.bind(name, g); !err.empty()) return err;
  }
  return "";
}

} // namespace

std::string beamSearch(Generator& gen, const BeamOptions& o, std::vector<int32_t>* out) {
  const int K = o.beams;
  if (K < 1 || gen.batch() != K)
    return fmt::format("beam search with {} beams needs a decode step of batch {}", K, K);
  const int64_t W = gen.logitsWidth();
  std::vector<Hyp> live(1); // one hypothesis to start: the others would duplicate it
  std::vector<Hyp> finished;
  std::vector<int32_t> cur(static_cast<size_t>(K), o.sos);
  std::vector<float> logits;
  for (int64_t pos = 0; pos < gen.context() && pos < o.maxNew && !live.empty(); ++pos) {
    if (std::string e = gen.step(cur, pos, &logits); !e.empty()) return e;
    struct Cand {
      double logp;
      int parent;
      int32_t id;
    };
    std::vector<Cand> cands;
    for (size_t b = 0; b < live.size(); ++b) {
      const float* row = logits.data() + int64_t(b) * W;

      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t v = 0; v < W; ++v)
        mx = std::max(mx, double(row[v]));
      double sum = 0;
      for (int64_t v = 0; v < W; ++v)
        sum += std::exp(double(row[v]) - mx);
      for (int64_t v = 0; v < W; ++v) {
        if (std::find(o.banned.begin(), o.banned.end(), int32_t(v)) != o.banned.end()) continue;
        cands.push_back({live[b].logp + double(row[v]) - mx - std::log(sum), int(b), int32_t(v)});
      }
    }
    // Best first; ties to the lower parent, then the lower id, so the search is deterministic.
    std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
      if (a.logp != b.logp) return a.logp > b.logp;
      return a.parent != b.parent ? a.parent < b.parent : a.id < b.id;
    });
    std::vector<Hyp> next;
    std::vector<int> from;
    for (const Cand& c : cands) {
      if (int(next.size()) == K) break;
      Hyp h = live[c.parent];
      h.tokens.push_back(c.id);
      h.logp = c.logp;
      if (c.id == o.eos || pos + 1 == o.maxNew || pos + 1 == gen.context()) {
        finished.push_back(std::move(h)); // kept: it competes with the live beams at the end
        continue;
      }
      next.push_back(std::move(h));
      from.push_back(c.parent);
    }
    // Stop when no live beam can beat the best finished one: log-probs only fall, so a live
    // hypothesis's best final score is its logp over the longest length it could reach.
    if (!finished.empty() && !next.empty()) {
      double best = -std::numeric_limits<double>::infinity();
      for (const Hyp& h : finished)
        best = std::max(best, normalised(h, o.lengthPenalty));
      double bound = -std::numeric_limits<double>::infinity();
      for (const Hyp& h : next)
        bound = std::max(bound, h.logp / std::pow(double(o.maxNew), o.lengthPenalty));
      if (bound <= best) next.clear();
    }
    live = std::move(next);
    if (live.empty()) break;
    for (size_t r = live.size(); r < size_t(K); ++r)
      from.push_back(from.back()); // spare rows follow the last beam
    if (std::string e = gatherCaches(gen.decodeEngine(), from); !e.empty()) return e;
    for (int r = 0; r < K; ++r)
      cur[r] = live[std::min<size_t>(r, live.size() - 1)].tokens.back();
  }
  for (Hyp& h : live)
    finished.push_back(std::move(h));
  if (finished.empty()) return "beam search produced no hypothesis";
  const Hyp* best = &finished[0];
  for (const Hyp& h : finished)
    if (normalised(h, o.lengthPenalty) > normalised(*best, o.lengthPenalty)) best = &h;
  *out = best->tokens;
  return "";
}

} // namespace gptc
