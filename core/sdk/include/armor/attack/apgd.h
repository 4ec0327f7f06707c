#pragma once
// Apgd: Auto-PGD (Croce & Hein 2020), untargeted on CE or DLR, or targeted on the targeted DLR loss
// over the top `target_classes` classes (APGD-T). Follows the reference implementation
// (fra31/auto-attack, autopgd_base.py) call for call, including its random draws, so that a run
// with the same seed gives the same per-image results.
//
// perturb: x [N,C,H,W] in [0,1], y [N] -> x_adv [N,C,H,W]. Per image: the latest misclassified
// iterate of the first restart (or target) that fools it; the clean image where none does. Only
// images the model classifies correctly are attacked. Each call seeds its own CPU generator with
// `seed` (the reference re-seeds per batch); the global generator is not touched.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/attack/attack_loss.h"
#include "armor/attack/threat_model.h"

namespace armor {

struct ApgdOptions {
  TORCH_ARG(double, eps) = 8.0 / 255.0;
  TORCH_ARG(Norm, norm) = Norm::linf;
  TORCH_ARG(std::int64_t, steps) = 100;
  TORCH_ARG(std::int64_t, restarts) = 1;
  TORCH_ARG(double, rho) = 0.75;  // halve the step if the loss rose in at most rho of the steps
  TORCH_ARG(AttackLoss, loss) = AttackLoss::cross_entropy;  // untargeted loss
  TORCH_ARG(bool, targeted) = false;                        // APGD-T: targeted DLR loss
  TORCH_ARG(std::int64_t, target_classes) = 9;              // APGD-T: the 2nd..(n+1)th highest clean logits
  // EOT (expectation over transformation, for randomized models): each step's gradient is the mean
  // of this many forward/backward passes; the loss and logits are those of the last pass.
  TORCH_ARG(std::int64_t, eot_iterations) = 1;
  TORCH_ARG(std::uint64_t, seed) = 0;
};

class Apgd : public Attack {
 public:
  explicit Apgd(ApgdOptions options);
  torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override;
  std::string describe() const override;
  std::optional<ThreatBall> threat_ball() const override { return ThreatBall{options_.norm(), options_.eps()}; }
  const ApgdOptions& options() const noexcept { return options_; }

 private:
  ApgdOptions options_;
};

// The iterations (counted from 1) after which APGD checks its progress: the first window is
// max(floor(0.22 n), 1) steps, each next one max(floor(0.03 n), 1) shorter, down to max(floor(0.06 n), 1).
// For 100 steps: 22, 41, 57, 70, 80, 87, 93, 99.
std::vector<std::int64_t> apgd_checkpoints(std::int64_t steps);

}  // namespace armor
