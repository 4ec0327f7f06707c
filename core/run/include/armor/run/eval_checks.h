#pragma once
// Attack-validity checks of an evaluation (README "Attack-validity checks"): cheap tests, on the
// first test images, that an evaluation's robust accuracies are not inflated by a defect of the
// model that defeats gradient attacks (gradient masking) rather than robustness. Each returns an
// EvalCheck for table eval_checks; the standard ones are model-wide (metric ""): a flag concerns
// every robust metric of the run.
//
//   randomness        two eval-mode forwards of the same images differ (max |Δlogit| > 1e-6): the
//                     model is random at test time, attack it with EOT (value: max |Δlogit|)
//   probabilities     every output row is non-negative and sums to 1 (within 1e-4): the model
//                     outputs probabilities, CE on them is not CE on logits (value: 1 or 0)
//   zero_gradients    share of images whose CE input gradient is exactly 0; flagged above 0.5
//   batch_dependence  predictions of the images in one batch vs one at a time differ (share of the
//                     first 16 images that differ); flagged above 0: capacity-limited or noisy gates
//   unbounded_attack  share of images still correct after a 10-step sign-gradient attack with ε = 1
//                     in L∞ (the whole [0,1] box); flagged at 0.1 or more: a gradient attack that
//                     cannot fool a model allowed any input is broken by the model
// `full` runs them on the first 256 images with a 50-step unbounded attack, and adds checks per
// robust metric (metric "<attack>_acc"), each after the evaluation attack ran on those images:
//   incomplete_optimisation  share of the checked images that a 20-step continuation of the attack
//                            (sign or normalised gradient steps of eps/10 from the attack's own
//                            points, projected onto the same ball) fools although the attack left
//                            them correct; flagged above 0.02: the attack stopped while its loss was
//                            still improving (more steps or restarts would break more)
//   score_based_gap          share of the checked images that Square (1000 queries, the same ball)
//                            fools although every gradient attack with that ball left them correct;
//                            flagged above 0.01: the gradient attacks are masked, not the model robust
//   score_based_route_change for a MoE, share of the images Square fooled there whose top-1 expert
//                            changed in some MoE layer; flagged (with a gap) at 0.5 or more: the
//                            gradient attacks miss route flips that piecewise-constant top-k routing
//                            hides from gradients
// and, with eval.route_attacks, one check per RA-R metric (metric "<attack>_rar_acc") over the whole
// test split, from the router-attack pass itself (any level but off):
//   constant_router   share of the test images on the most common clean route (top-1 expert of
//                     every MoE layer); flagged at 0.99 or more when the router attack also changed no
//                     image's route and no prediction: RA-R is then the clean accuracy by
//                     construction (the router ignores its input), not a measure of its robustness

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/data/dataset.h"
#include "armor/run/evaluation.h"
#include "armor/store/store_records.h"

namespace armor {

class Classifier;

enum class CheckLevel { off, standard, full };
CheckLevel check_level_from_string(const std::string& text);  // off, standard, full; ConfigError otherwise

struct CheckThresholds {
  static constexpr double kRandomness = 1e-6;          // max |Δlogit| of two eval-mode forwards
  static constexpr double kProbabilitySum = 1e-4;      // |row sum - 1| of a probability output
  static constexpr double kZeroGradients = 0.5;        // share of images with an all-zero gradient
  static constexpr double kUnboundedSurvivors = 0.1;   // share still correct under ε = 1
  static constexpr double kContinuationFooled = 0.02;  // share a continuation fools after the attack
  static constexpr double kScoreBasedGap = 0.01;       // share Square fools after the gradient attacks
  static constexpr double kGapRouteChange = 0.5;       // share of those whose route changed
  static constexpr double kConstantRoute = 0.99;       // share of images on the most common route
};

std::int64_t check_subset_size(CheckLevel level);  // 64 standard, 256 full, 0 off

EvalCheck check_randomness(Classifier& model, const torch::Tensor& x);
EvalCheck check_probabilities(Classifier& model, const torch::Tensor& x);
EvalCheck check_zero_gradients(Classifier& model, const torch::Tensor& x, const torch::Tensor& y);
EvalCheck check_batch_dependence(Classifier& model, const torch::Tensor& x);
EvalCheck check_unbounded_attack(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, int steps);

// One evaluation attack's result on the checked images, for the per-metric checks.
struct AttackedSubset {
  std::string metric;  // "<attack>_acc"
  std::optional<ThreatBall> ball;
  bool uses_gradients = true;
  torch::Tensor adversarial;  // [n,C,H,W], the attack's points for x
};

EvalCheck check_incomplete_optimisation(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                        const AttackedSubset& attacked, int steps);
// One check per gradient metric with an L-inf ball (score_based_gap) and, for a MoE model, one
// score_based_route_change per such metric where Square fooled any image.
std::vector<EvalCheck> check_score_based_gap(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                             const std::vector<AttackedSubset>& attacked, std::int64_t queries);

// What a router attack (RA-R pass) did over the test split, for constant_router.
struct RouterAttackOutcome {
  std::int64_t images = 0;
  double modal_route_share = 0.0;         // share of images on the most common clean route
  std::int64_t routes_changed = 0;        // images whose top-1 route the attack changed (any layer)
  std::int64_t predictions_changed = 0;   // images judged differently (right/wrong) than clean
};
EvalCheck check_constant_router(const std::string& metric, const RouterAttackOutcome& outcome);

// Every check of `level` on the first test images (none when off), the model in eval mode; `full`
// also runs each of `attacks` on them for the per-metric checks.
std::vector<EvalCheck> run_eval_checks(Classifier& model, const LabelledImages& test, torch::Device device,
                                       CheckLevel level, const std::vector<EvalAttack>& attacks = {});

}  // namespace armor
