#pragma once
// Trainer: a training procedure (plugins of kind "trainer"). fit() trains ctx.model in place.

#include <cstdint>
#include <functional>
#include <string>

#include <torch/types.h>

#include "armor/data/augmentation.h"
#include "armor/data/dataset.h"

namespace armor {

class Attack;
class BalancingTerm;
class Classifier;
class MetricSink;

// Where and how often a trainer saves its whole state (model, optimiser, schedule position, RNG,
// epoch), and whether it continues from a checkpoint already there.
struct CheckpointPlan {
  std::string path;        // "" = no checkpoints
  std::int64_t every = 1;  // epochs between checkpoints; the last epoch always gets one (0 = only it)
  bool resume = false;     // continue from `path` when it exists
  // Whose state it is: written into every checkpoint, and on resume a checkpoint of another run or
  // config is refused. Empty = a checkpoint of no recorded run (tests, embedding code): not checked.
  std::string run_uid{};
  std::string config_hash{};
  std::string owner{};  // "run 3 of /data/runs.db": names the run in messages
};

struct TrainContext {
  Classifier& model;
  const LabelledImages& train_data;
  torch::Device device;
  Attack* attack;  // the experiment's threat model ([attack]); nullptr when none is configured
  const BalancingTerm& balancing;
  MetricSink& metrics;
  std::uint64_t seed;
  AugmentationOptions augmentation{};          // applied to training batches
  const LabelledImages* validation = nullptr;  // evaluated every `validation_every` epochs when set
  std::int64_t validation_every = 1;
  std::int64_t validation_batch_size = 256;
  CheckpointPlan checkpoint{};
};

class Trainer {
 public:
  virtual ~Trainer() = default;
  virtual void fit(TrainContext& ctx) = 0;
};

}  // namespace armor
