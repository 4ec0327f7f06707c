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
// `full` runs them on the first 256 images with a 50-step unbounded attack.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/data/dataset.h"
#include "armor/store/store_records.h"

namespace armor {

class Classifier;

enum class CheckLevel { off, standard, full };
CheckLevel check_level_from_string(const std::string& text);  // off, standard, full; ConfigError otherwise

struct CheckThresholds {
  static constexpr double kRandomness = 1e-6;         // max |Δlogit| of two eval-mode forwards
  static constexpr double kProbabilitySum = 1e-4;     // |row sum - 1| of a probability output
  static constexpr double kZeroGradients = 0.5;       // share of images with an all-zero gradient
  static constexpr double kUnboundedSurvivors = 0.1;  // share still correct under ε = 1
};

std::int64_t check_subset_size(CheckLevel level);  // 64 standard, 256 full, 0 off

EvalCheck check_randomness(Classifier& model, const torch::Tensor& x);
EvalCheck check_probabilities(Classifier& model, const torch::Tensor& x);
EvalCheck check_zero_gradients(Classifier& model, const torch::Tensor& x, const torch::Tensor& y);
EvalCheck check_batch_dependence(Classifier& model, const torch::Tensor& x);
EvalCheck check_unbounded_attack(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, int steps);

// Every check of `level` on the first test images (none when off), the model in eval mode.
std::vector<EvalCheck> run_eval_checks(Classifier& model, const LabelledImages& test, torch::Device device,
                                       CheckLevel level);

}  // namespace armor
