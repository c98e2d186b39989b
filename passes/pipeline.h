// Pipelines are data: a named list of pass names, each entry with a one-line reason for its place
// (passes/pipeline.cpp). This header turns a pipeline name into the passes the manager runs.
//
// What it leaves to others: running them (passes/pass_manager.h) and the flags (tools/options.cpp).
#pragma once
#include "passes/pass_manager.h"

#include <string>
#include <string_view>
#include <vector>

namespace gptc {

/// One entry of a pipeline table.
struct PipelineEntry {
  std::string_view pass; ///< a name from passes.def
  std::string_view why;  ///< why it sits here, one line
};

struct Pipeline {
  std::string_view name;        ///< "inference", "train"
  std::string_view description; ///< one line, for --help
  bool training = false;        ///< builds a training step (PassContext::training)
  std::vector<PipelineEntry> entries;
};

/// Every pipeline, in the order --help lists them.
const std::vector<Pipeline>& allPipelines();
/// nullptr when unknown.
const Pipeline* findPipeline(std::string_view name);
/// "inference, train"
std::string pipelineNameList();

/// The registered passes of `pipeline`, in order; a Diag names an entry that is not in passes.def
/// (a bug in pipeline.cpp, caught by a test).
Expected<std::vector<const PassInfo*>> resolvePipeline(const Pipeline& pipeline);

} // namespace gptc
