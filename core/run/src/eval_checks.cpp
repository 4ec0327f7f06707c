#include "armor/run/eval_checks.h"

#include <algorithm>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/input_gradient.h"
#include "armor/attack/square.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/run/evaluation.h"
#include "armor/run/top1_routes.h"

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

torch::Tensor fooled_by(Classifier& model, const torch::Tensor& points, const torch::Tensor& y) {
  return predict_labels(model, points).ne(y);
}

// A steepest-ascent step of `size` on the CE gradient in the ball's norm (sign for L-inf,
// normalised for L2).
torch::Tensor ascent_step(Norm norm, const torch::Tensor& gradient, double size) {
  return size * (norm == Norm::linf ? gradient.sign() : normalize_per_image(Norm::l2, gradient));
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

EvalCheck check_incomplete_optimisation(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                        const AttackedSubset& attacked, int steps) {
  const ThreatBall ball = *attacked.ball;
  const torch::Tensor left_correct = fooled_by(model, attacked.adversarial, y).logical_not();
  torch::Tensor fooled = torch::zeros_like(left_correct);
  torch::Tensor point = attacked.adversarial.clone();
  for (int step = 0; step < steps; ++step) {
    const InputGradient g = input_gradient(model, point, [&](const torch::Tensor& logits) {
      return cross_entropy_per_image(logits.to(torch::kFloat), y);
    });
    point = project(ball.norm, point + ascent_step(ball.norm, g.gradient, ball.eps / 10.0), x, ball.eps).detach();
    fooled.logical_or_(fooled_by(model, point, y));
  }
  const std::int64_t newly = fooled.logical_and(left_correct).sum().item<std::int64_t>();
  const double share = static_cast<double>(newly) / static_cast<double>(std::max<std::int64_t>(1, x.size(0)));
  const bool flagged = share > CheckThresholds::kContinuationFooled;
  return EvalCheck{
      attacked.metric, "incomplete_optimisation", share, flagged,
      fmt::format(
          "a {}-step continuation from the attack's own points ({} eps = {:.4g}) fools {} of the {} checked "
          "images it left correct{}",
          steps, to_string(ball.norm), ball.eps, newly, left_correct.sum().item<std::int64_t>(),
          flagged ? ": the attack stopped while its loss was still improving; give it more steps or restarts" : "")};
}

std::vector<EvalCheck> check_score_based_gap(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                             const std::vector<AttackedSubset>& attacked, std::int64_t queries) {
  // One Square run per ball (norm, radius), on the images every gradient attack with that ball left
  // correct. L2 Square's windows need images of at least 5 x 5 pixels.
  const bool l2_possible = x.dim() == 4 && x.size(2) >= 5 && x.size(3) >= 5;
  const auto checked = [&](const AttackedSubset& a) {
    return a.uses_gradients && a.ball && (a.ball->norm == Norm::linf || l2_possible);
  };
  std::vector<std::pair<Norm, double>> balls;
  for (const AttackedSubset& a : attacked) {
    if (!checked(a)) continue;
    const std::pair<Norm, double> ball{a.ball->norm, a.ball->eps};
    if (std::find(balls.begin(), balls.end(), ball) == balls.end()) balls.push_back(ball);
  }
  const std::vector<MoeLayer> layers = moe_layers_of(model);
  std::vector<EvalCheck> checks;
  for (const auto& [norm, eps] : balls) {
    torch::Tensor survivors = torch::ones({x.size(0)}, torch::dtype(torch::kBool).device(x.device()));
    std::vector<std::string> metrics;
    for (const AttackedSubset& a : attacked) {
      if (!checked(a) || a.ball->norm != norm || a.ball->eps != eps) continue;
      survivors.logical_and_(fooled_by(model, a.adversarial, y).logical_not());
      metrics.push_back(a.metric);
    }
    const torch::Tensor index = survivors.nonzero().select(1, 0);
    std::int64_t broken = 0;
    double route_changed = -1.0;
    if (index.numel() > 0) {
      const torch::Tensor xs = x.index_select(0, index);
      const torch::Tensor ys = y.index_select(0, index);
      Square square(SquareOptions().eps(eps).norm(norm).queries(queries));
      const torch::Tensor points = square.perturb(model, xs, ys);
      torch::NoGradGuard no_grad;
      const torch::Tensor fooled = model.forward(points).argmax(1).ne(ys);
      const torch::Tensor adversarial_routes = layers.empty() ? torch::Tensor() : top1_routes(layers);
      broken = fooled.sum().item<std::int64_t>();
      if (!layers.empty() && broken > 0) {
        model.forward(xs);
        const torch::Tensor changed = top1_routes(layers).ne(adversarial_routes).any(1);
        route_changed = changed.logical_and(fooled).sum().item<double>() / static_cast<double>(broken);
      }
    }
    const double share = static_cast<double>(broken) / static_cast<double>(std::max<std::int64_t>(1, x.size(0)));
    const bool gap = share > CheckThresholds::kScoreBasedGap;
    for (const std::string& metric : metrics) {
      checks.push_back({metric, "score_based_gap", share, gap,
                        fmt::format("Square ({} queries, {} eps = {:.4g}) fools {} of the {} checked images that "
                                    "every gradient attack with this eps left correct{}",
                                    queries, to_string(norm), eps, broken, index.numel(),
                                    gap ? ": the gradient attacks are defeated by the model (masked or hidden "
                                          "gradients), not by robustness; add square to the evaluation"
                                        : "")});
      if (route_changed < 0) continue;
      const bool flips = gap && route_changed >= CheckThresholds::kGapRouteChange;
      checks.push_back(
          {metric, "score_based_route_change", route_changed, flips,
           fmt::format(
               "{:.0f}% of the {} images Square fooled changed their top-1 expert in some MoE layer{}",
               100.0 * route_changed, broken,
               flips ? ": the gradient attacks miss route flips that top-k routing hides from gradients" : "")});
    }
  }
  return checks;
}

EvalCheck check_constant_router(const std::string& metric, const RouterAttackOutcome& outcome) {
  const bool inert = outcome.routes_changed == 0 && outcome.predictions_changed == 0;
  const bool flagged = inert && outcome.modal_route_share >= CheckThresholds::kConstantRoute;
  return EvalCheck{
      metric, "constant_router", outcome.modal_route_share, flagged,
      fmt::format("{:.1f}% of the {} test images take the most common route; the router attack changed the route "
                  "of {} and the judgement of {}{}",
                  100.0 * outcome.modal_route_share, outcome.images, outcome.routes_changed,
                  outcome.predictions_changed,
                  flagged ? ": the router ignores its input, so this RA-R is the clean accuracy by construction, "
                            "not a measure of the router's robustness (train the router, e.g. with a balancing "
                            "loss, before comparing RA-R with RA-E)"
                          : "")};
}

std::vector<EvalCheck> run_eval_checks(Classifier& model, const LabelledImages& test, torch::Device device,
                                       CheckLevel level, const std::vector<EvalAttack>& attacks) {
  const std::int64_t n = std::min(check_subset_size(level), test.size());
  if (n == 0) return {};
  model.eval();
  const LabelledImages subset = test.head(n);
  const torch::Tensor x = subset.images.to(device).to(torch::kFloat32).div_(255.0);  // as BatchLoader
  const torch::Tensor y = subset.labels.to(device);
  std::vector<EvalCheck> checks = {check_randomness(model, x), check_probabilities(model, x),
                                   check_zero_gradients(model, x, y), check_batch_dependence(model, x),
                                   check_unbounded_attack(model, x, y, level == CheckLevel::full ? 50 : 10)};
  if (level != CheckLevel::full) return checks;
  std::vector<AttackedSubset> attacked;
  for (const EvalAttack& attack : attacks) {
    attacked.push_back({attack.name + "_acc", attack.attack->threat_ball(), attack.attack->uses_gradients(),
                        attack.attack->perturb(model, x, y).detach()});
    if (attacked.back().ball && attacked.back().uses_gradients)
      checks.push_back(check_incomplete_optimisation(model, x, y, attacked.back(), 20));
  }
  for (EvalCheck& check : check_score_based_gap(model, x, y, attacked, 1000)) checks.push_back(std::move(check));
  return checks;
}

}  // namespace armor
