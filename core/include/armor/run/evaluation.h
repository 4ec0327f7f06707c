#pragma once
// Evaluation of a trained classifier on the test split: clean accuracy, one accuracy per configured
// attack, and per MoE layer the share of test images routed to each expert.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/data/dataset.h"
#include "armor/train/metric_sink.h"

namespace armor {

class Attack;
class Classifier;

struct EvalAttack {
  std::string name;  // the metric is "<name>_acc"
  std::shared_ptr<Attack> attack;
};

struct ExpertUsage {
  std::string layer;
  std::int64_t expert = 0;
  double share = 0.0;  // fraction of (image, chosen slot) pairs routed to this expert
};

struct EvaluationResult {
  MetricValues metrics;  // clean_acc, then <attack>_acc in the order given
  std::vector<ExpertUsage> usage;
};

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                          const std::vector<EvalAttack>& attacks);

}  // namespace armor
