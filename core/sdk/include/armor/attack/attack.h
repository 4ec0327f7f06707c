#pragma once
// Attack: an adversarial perturbation (plugins of kind "attack").
//
// perturb: model, x [N,C,H,W] in [0,1], y [N] int64 -> x_adv [N,C,H,W] within the attack's
// threat model around x and inside [0,1]. The model is left in the train/eval mode it was in, and
// no parameter gradient is accumulated.

#include <optional>
#include <string>

#include <torch/types.h>

#include "armor/attack/threat_model.h"

namespace armor {

class Classifier;

// The Lp ball an attack searches: trainers that craft their own perturbations (fast_at, free_at,
// trades) take the experiment's threat model from the [attack] section through it.
struct ThreatBall {
  Norm norm = Norm::linf;
  double eps = 0.0;
};

class Attack {
 public:
  virtual ~Attack() = default;
  virtual torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) = 0;
  // What exactly runs, for logs and results: "PGD-10 Linf eps=0.1 step=0.025 random-start".
  virtual std::string describe() const = 0;
  // The ball x_adv stays in, when the attack has one (every norm-bounded attack should say).
  virtual std::optional<ThreatBall> threat_ball() const { return std::nullopt; }
  // False for a score-based attack (it only queries outputs): the attack-validity check
  // score_based_gap compares the images such an attack breaks with those the gradient attacks left.
  virtual bool uses_gradients() const { return true; }
};

}  // namespace armor
