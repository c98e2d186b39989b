// runtime/generate/beam_search.h — beam search over a Generator's decode step, for encoder-decoder
// models: the decode step's batch rows are the beams (the generator is built with batch = beams,
// the encoder's output bound to every row). After each step the caches' rows are gathered to follow
// the surviving beams. A finished hypothesis (ended by EOS) is scored by its summed log-probability
// divided by its length^alpha (length normalisation, Wu et al. 2016 with alpha = 1: the mean
// log-probability per token); the best finished one is returned.
//
// What it leaves to others: the steps (runtime/generate/generator.h), greedy decoding (generate()).
#pragma once

#include "runtime/generate/generator.h"

namespace gptc {

struct BeamOptions {
  int beams = 4;
  int64_t maxNew = 0; ///< at most this many tokens (EOS included)
  int32_t sos = 1, eos = 2;
  std::vector<int32_t> banned; ///< never extended with these (PAD, SOS)
  double lengthPenalty = 1.0;  ///< alpha: score = logp / length^alpha
};

/// The best hypothesis's tokens (its EOS included when it has one). gen.batch() must equal
/// options.beams. "" or why not.
std::string beamSearch(Generator& gen, const BeamOptions& options, std::vector<int32_t>* out);

} // namespace gptc
