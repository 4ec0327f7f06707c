#pragma once
// Evaluation of a trained classifier on the test split: clean accuracy, one accuracy per configured
// attack, per MoE layer the share of test images routed to each expert, the expert x class matrix
// and the routing entropy, and per test image whether it survives every attack (the worst case).
// MoE-specific passes, each off unless EvaluationOptions asks (README "Evaluation"):
//   route_attacks  each attack again on the experts with the clean route held (RA-E, metric
//                  <attack>_rae_acc) and on the router alone (RA-R, <attack>_rar_acc); see
//                  armor/run/route_held_classifier.h for the precise definitions
//   route_change   the share of test images whose route (top-1 expert of any MoE layer) the
//                  whole-model attack changes: <attack>_route_change
//   fixed_expert_layer  E + 1 passes at that MoE layer: the model as trained, then each expert
//                  forced on every image (MoeLayer::set_fixed_expert), each attacked anew by every
//                  attack or those fixed_expert_attacks names
//   dual_members   a dual model's F_S and F_R alone: fs_clean_acc, fs_<attack>_acc, fr_...

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/config/experiment.h"
#include "armor/data/dataset.h"
#include "armor/store/store_records.h"
#include "armor/train/metric_sink.h"

namespace armor {

class Attack;
class Classifier;

struct EvalAttack {
  std::string name;  // the metric is "<name>_acc"
  std::shared_ptr<Attack> attack;
  std::int64_t batch_size = 0;  // 0 = the evaluation's batch size
};

struct EvaluationOptions {
  std::int64_t batch_size = 256;
  bool route_attacks = false;
  bool route_change = false;
  std::string fixed_expert_layer;  // "" = no fixed-expert passes
  // The attacks (metric names, comma-separated) of the fixed-expert passes and their expert -1 rows;
  // "" = every attack. Names not among the evaluated attacks are skipped (armor eval --attacks).
  std::string fixed_expert_attacks;
  bool dual_members = false;
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
// and of the fixed-expert passes (fixed_expert_layer): expert e with e forced, expert -1 routed as
// trained, keys fixed_clean_acc, fixed_clean_loss, fixed_<attack>_acc, fixed_<attack>_loss (mean CE).
struct RoutingStatistic {
  std::string layer;
  std::int64_t expert = 0;
  std::string key;
  double value = 0.0;
};

// One test image (index in the evaluated test split) against every attack of the evaluation.
struct ImageOutcome {
  std::int64_t image = 0;
  bool clean_correct = false;
  bool robust = false;    // correct clean and under every attack
  std::string broken_by;  // "clean", or the first attack (in evaluation order) that broke it; "" if robust
};

struct EvaluationResult {
  MetricValues metrics;  // clean_acc, <attack>_acc in the order given, worst_case_acc (2+ attacks), ...
  std::vector<ExpertUsage> usage;
  std::vector<RoutingStatistic> routing;
  std::vector<ImageOutcome> images;  // empty without attacks
  // Attack-validity checks that need the whole split and come free with a pass (constant_router per
  // <attack>_rar_acc; eval_checks.h), recorded with the subset checks of run_eval_checks.
  std::vector<EvalCheck> checks;
  int fixed_expert_passes = 0;       // passes with an expert forced (E when fixed_expert_layer is set)
};

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, const EvaluationOptions& options,
                          torch::Device device, const std::vector<EvalAttack>& attacks);

// Kept for callers that need none of the options.
EvaluationResult evaluate(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                          const std::vector<EvalAttack>& attacks);

// Checks, before any training, that the options fit the model: route passes need a MoE layer,
// fixed_expert_layer must name one, dual_members a dual model. ConfigError naming the eval key.
void check_evaluation_options(Classifier& model, const EvaluationOptions& options);

// Combines the per-image outcomes of an earlier evaluation with a new one of the same images
// (armor eval adding attacks to a finished run): robust only if robust in both; broken_by the
// earlier one's when it broke. Images missing from `earlier` keep the new outcome.
std::vector<ImageOutcome> combine_outcomes(const std::vector<ImageOutcome>& earlier,
                                           const std::vector<ImageOutcome>& later);

// The share of images robust in `outcomes` (worst_case_acc); 0 when empty.
double worst_case_accuracy(const std::vector<ImageOutcome>& outcomes);

}  // namespace armor
