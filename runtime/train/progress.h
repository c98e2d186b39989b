// runtime/train/progress.h — what a training run shows: the one-line progress report per step,
// llm.c's main.log (`s:%d trl:%f` for a training loss, `s:%d tel:%f` for a validation loss, so
// llm.c's plotting notebook reads gptc runs unchanged) and a self-contained SVG of the loss curves.
//
// What it leaves to others: computing the numbers (runtime/train/trainer.h), where files go (the
// CLI).
#pragma once

#include "runtime/formats/file_io.h"

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace gptc {

/// One step, as the progress line reports it.
struct StepReport {
  int64_t step = 0; ///< 1-based: the number of updates done, including this one
  int64_t totalSteps = 0;
  float loss = 0;               ///< training loss of this step's batch, nats/token
  std::optional<float> valLoss; ///< when validation ran before this step
  double lr = 0;                ///< the rate this step used
  float gradNorm = 0;           ///< before clipping
  double milliseconds = 0;      ///< the step alone (not validation)
  double tokensPerSecond = 0;
};

/// "step 12/2000 | loss 2.4831 | val 2.5120 | lr 6.0e-04 | norm 0.91 | 143 ms | 28.6k tok/s"
/// (the val field only when valLoss is set).
std::string formatStepLine(const StepReport& r);

/// "42s", "3m05s", "1h02m" — an ETA or an elapsed time (negative or non-finite: "?").
std::string formatDuration(double seconds);

/// "[##########..........]  50% 1000/2000 eta 3m05s" — the terminal progress bar (40 cells).
std::string progressBar(int64_t step, int64_t totalSteps, double etaSeconds);

/// A loss curve point.
struct LossPoint {
  int64_t step;
  float loss;
};

/// llm.c's main.log: created (truncated) on open, one line per record, each written with one
/// write(2) at once so a running job can be plotted. Only whole lines: a write that fails (a full
/// disk, ENOSPC; a file-size limit, EFBIG) is cut back off the file, which then ends with the last
/// line written whole, and the error is returned; a SIGKILL cannot split a line either. A reader
/// never sees a half line it would take for a loss (`s:12 trl:2.4` of `s:12 trl:2.4831`).
class MainLog {
public:
  static IoResult<MainLog> open(const std::string& path);
  MainLog(MainLog&& other) noexcept;
  MainLog& operator=(MainLog&&) = delete;
  ~MainLog();
  IoStatus train(int64_t step, float loss); ///< "s:%d trl:%f"
  IoStatus val(int64_t step, float loss);   ///< "s:%d tel:%f"
  /// "# text": the run's settings at the top (llm.c's readers skip lines that do not parse).
  IoStatus note(const std::string& text);

private:
  MainLog(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  IoStatus line(const std::string& text);
  int fd_ = -1;
  std::string path_;
  int64_t size_ = 0; ///< bytes of whole lines written
};

/// An SVG (800x480) with the training curve in blue, validation points joined in orange, axes
/// with step and loss ticks, and `title` on top. Non-finite losses are skipped.
std::string lossCurveSvg(const std::vector<LossPoint>& train, const std::vector<LossPoint>& val,
                         const std::string& title);

/// lossCurveSvg, written atomically.
IoStatus writeLossCurveSvg(const std::string& path, const std::vector<LossPoint>& train,
                           const std::vector<LossPoint>& val, const std::string& title);

} // namespace gptc
