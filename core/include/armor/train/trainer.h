#pragma once
// Trainer: a training procedure (plugins of kind "trainer"). fit() trains ctx.model in place.

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

#include "armor/data/dataset.h"

namespace armor {

class Attack;
class BalancingTerm;
class Classifier;
class MetricSink;

struct TrainContext {
  Classifier& model;
  const LabelledImages& train_data;
  torch::Device device;
  Attack* attack;  // the experiment's threat model ([attack]); nullptr when none is configured
  const BalancingTerm& balancing;
  MetricSink& metrics;
  std::uint64_t seed;
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual void fit(TrainContext& ctx) = 0;
};

}  // namespace armor
