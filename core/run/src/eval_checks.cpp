#include "armor/run/eval_checks.h"

#include <algorithm>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/input_gradient.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"

namespace armor {

namespace {

torch::Tensor logits_of(Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x).detach().to(torch::kFloat);
}

EvalCheck model_wide(const char* check, double value, bool flagged, std::string detail) {
  return EvalCheck{"", check, value, flagged, std::move(detail)};
}

torch::Tensor cross_entropy_per_image(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(logits, y,
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

}  // namespace

CheckLevel check_level_from_string(const std::string& text) {
  if (text == "off") return CheckLevel::off;
  if (text == "standard") return CheckLevel::standard;
  if (text == "full") return CheckLevel::full;
  throw ConfigError("eval.checks must be off, standard or full (got '" + text + "')");
}

std::int64_t check_subset_size(CheckLevel level) {
  switch (level) {
    case CheckLevel::off: return 0;
    case CheckLevel::standard: return 64;
    case CheckLevel::full: return 256;
  }
  return 0;
}

EvalCheck check_randomness(Classifier& model, const torch::Tensor& x) {
  const double difference = (logits_of(model, x) - logits_of(model, x)).abs().max().item<double>();
  const bool flagged = difference > CheckThresholds::kRandomness;
  return model_wide("randomness", difference, flagged,
                    flagged ? fmt::format("two eval-mode forwards of the same {} images differ (max |dlogit| {:.3g}): "
                                          "the model is random at test time; attack it with EOT",
                                          x.size(0), difference)
                            : "eval-mode forwards are deterministic");
}

EvalCheck check_probabilities(Classifier& model, const torch::Tensor& x) {
  const torch::Tensor out = logits_of(model, x);
  const bool non_negative = out.min().item<double>() >= 0.0;
  const double worst_sum = (out.sum(1) - 1.0).abs().max().item<double>();
  const bool flagged = non_negative && worst_sum <= CheckThresholds::kProbabilitySum;
  return model_wide("probabilities", flagged ? 1.0 : 0.0, flagged,
                    flagged ? "the model outputs probabilities (rows >= 0 summing to 1), not logits: "
                              "cross-entropy on them saturates; attack the logits"
                            : "outputs are logits");
}

EvalCheck check_zero_gradients(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  const InputGradient g = input_gradient(
      model, x, [&](const torch::Tensor& logits) { return cross_entropy_per_image(logits.to(torch::kFloat), y); });
  const torch::Tensor zero = g.gradient.flatten(1).abs().amax(1) == 0;
  const double share = zero.to(torch::kDouble).mean().item<double>();
  const bool flagged = share > CheckThresholds::kZeroGradients;
  return model_wide("zero_gradients", share, flagged,
                    fmt::format("{:.0f}% of {} images have an input gradient of exactly 0{}", 100.0 * share, x.size(0),
                                flagged ? ": gradients are masked (quantised, non-differentiable or saturated "
                                          "input processing); gradient attacks cannot move; use BPDA or a "
                                          "score-based attack"
                                        : ""));
}

EvalCheck check_batch_dependence(Classifier& model, const torch::Tensor& x) {
  const torch::Tensor n = x.narrow(0, 0, std::min<std::int64_t>(16, x.size(0)));
  const torch::Tensor together = logits_of(model, n).argmax(1);
  std::int64_t differ = 0;
  for (std::int64_t i = 0; i < n.size(0); ++i) {
    if (logits_of(model, n.narrow(0, i, 1)).argmax(1).item<std::int64_t>() != together[i].item<std::int64_t>())
      ++differ;
  }
  const double share = static_cast<double>(differ) / static_cast<double>(std::max<std::int64_t>(1, n.size(0)));
  const bool flagged = differ > 0;
  return model_wide("batch_dependence", share, flagged,
                    flagged ? fmt::format("{} of {} predictions change when the images are classified one at a "
                                          "time instead of in one batch: the evaluation depends on the batch "
                                          "(capacity-limited or noisy gates)",
                                          differ, n.size(0))
                            : "predictions do not depend on the rest of the batch");
}

EvalCheck check_unbounded_attack(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, int steps) {
  torch::Tensor adversarial = x.clone();
  for (int step = 0; step < steps; ++step) {
    const InputGradient g = input_gradient(model, adversarial, [&](const torch::Tensor& logits) {
      return cross_entropy_per_image(logits.to(torch::kFloat), y);
    });
    adversarial = (adversarial + 0.25 * g.gradient.sign()).clamp(0.0, 1.0).detach();
  }
  const double survivors = (predict_labels(model, adversarial) == y).to(torch::kDouble).mean().item<double>();
  const bool flagged = survivors >= CheckThresholds::kUnboundedSurvivors;
  return model_wide(
      "unbounded_attack", survivors, flagged,
      fmt::format("{:.0f}% of {} images stay correct under a {}-step gradient attack with eps = 1 "
                  "(the whole pixel range){}",
                  100.0 * survivors, x.size(0), steps,
                  flagged ? ": the gradient attack is broken by the model, not defeated by robustness" : ""));
}

std::vector<EvalCheck> run_eval_checks(Classifier& model, const LabelledImages& test, torch::Device device,
                                       CheckLevel level) {
  const std::int64_t n = std::min(check_subset_size(level), test.size());
  if (n == 0) return {};
  model.eval();
  const LabelledImages subset = test.head(n);
  const torch::Tensor x = subset.images.to(device).to(torch::kFloat32).div_(255.0);  // as BatchLoader
  const torch::Tensor y = subset.labels.to(device);
  return {check_randomness(model, x), check_probabilities(model, x), check_zero_gradients(model, x, y),
          check_batch_dependence(model, x), check_unbounded_attack(model, x, y, level == CheckLevel::full ? 50 : 10)};
}

}  // namespace armor
