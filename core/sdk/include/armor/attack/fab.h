#pragma once
// Fab: FAB in L-infinity (Croce & Hein 2020, "Minimally distorted adversarial examples with a fast
// adaptive boundary attack"), as the reference implementation (fra31/auto-attack, fab_base.py) runs it
// in AutoAttack. Targeted (FAB-T, the default): for each target among the 2nd..(n+1)th highest clean
// logits, linearise the gap z_t - z_y; untargeted (FAB, AutoAttack "plus"): linearise every gap
// z_k - z_y (one backward pass per class) and take the class whose hyperplane is nearest in the dual
// norm. Then project onto the zero hyperplane from the current point and from the original, take the
// biased combination (weight <= alpha_max, overshoot eta), and on success keep the smallest
// adversarial and step back towards the original (x beta). A point counts only if its distance (in
// `norm`: L-infinity or L2, whose projection is the reference's projection_l2) is <= eps.
//
// perturb: x [N,C,H,W] in [0,1], y [N] -> x_adv [N,C,H,W] (the clean image where it fails).
// Deterministic with one restart; later restarts start at random (own generator seeded with `seed`).

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/attack/threat_model.h"

namespace armor {

struct FabOptions {
  TORCH_ARG(double, eps) = 8.0 / 255.0;
  TORCH_ARG(Norm, norm) = Norm::linf;
  TORCH_ARG(std::int64_t, steps) = 100;
  TORCH_ARG(std::int64_t, restarts) = 1;
  TORCH_ARG(std::int64_t, target_classes) = 9;  // targeted only
  TORCH_ARG(bool, targeted) = true;
  TORCH_ARG(double, alpha_max) = 0.1;
  TORCH_ARG(double, eta) = 1.05;
  TORCH_ARG(double, beta) = 0.9;
  TORCH_ARG(std::uint64_t, seed) = 0;
};

class Fab : public Attack {
 public:
  explicit Fab(FabOptions options);
  torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override;
  std::string describe() const override;
  std::optional<ThreatBall> threat_ball() const override { return ThreatBall{options_.norm(), options_.eps()}; }

 private:
  // target_rank 0: untargeted.
  torch::Tensor single_run(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, std::int64_t target_rank,
                           bool random_start, at::Generator& generator);
  // The restarts on the images `robust` still marks, each recorded in robust and adversarial.
  void restarts(Classifier& model, const torch::Tensor& clean, const torch::Tensor& y, std::int64_t target_rank,
                torch::Tensor& robust, torch::Tensor& adversarial, at::Generator& generator);
  FabOptions options_;
};

// The minimal L-infinity step d from each point t onto the hyperplane w.(t + d) = b with t + d in
// [0,1] (FAB's projection). points, w [M,D], b [M] -> d [M,D].
torch::Tensor fab_projection_linf(const torch::Tensor& points, const torch::Tensor& w, const torch::Tensor& b);
// The same in L2 (the reference's projection_l2).
torch::Tensor fab_projection_l2(const torch::Tensor& points, const torch::Tensor& w, const torch::Tensor& b);

}  // namespace armor
