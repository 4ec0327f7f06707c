#pragma once
// Evaluation of a trained classifier on the test split: clean accuracy, one accuracy per configured
// attack, and per MoE layer the share of test images routed to each expert, the expert x class
// matrix and the routing entropy.

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

// A routing statistic of one MoE layer on the clean test images, for expert_metrics:
//   expert e >= 0, key class_<c>_share: the share of class c's routing slots that went to expert e
//                  (the expert x class matrix; each class's column sums to 1 over the experts)
//   expert -1 (the whole layer), key routing_entropy: mean over images of H(gate probabilities), nats
//   expert -1, key usage_entropy: H(usage shares), nats (log E when perfectly balanced)
struct RoutingStatistic {
  std::string layer;
  std::int64_t expert = 0;
  std::string key;
  double value = 0.0;
};

struct EvaluationResult {
  MetricValues metrics;  // clean_acc, then <attack>_acc in the order given
  std::vector<ExpertUsage> usage;
  std::vector<RoutingStatistic> routing;
};

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                          const std::vector<EvalAttack>& attacks);

}  // namespace armor
