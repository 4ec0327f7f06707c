#pragma once
// Square: the score-based Square Attack in L-infinity (Andriushchenko et al. 2020), as the reference
// implementation (fra31/auto-attack, square.py) runs it: start from vertical stripes (+-eps per
// image, channel and column); each query sets one random square window (shared by the batch) to
// +-eps per channel around x and keeps it per image if the logit margin drops or the image becomes
// misclassified. The side is round(sqrt(p H W)), p = p_init halved at queries 10, 50, 200, 500, 1000,
// 2000, 4000, 6000, 8000 (rescaled to a 10000-query budget when rescale_schedule is set).
// L2 (norm = l2): start from a 5 x 5 grid of +-eta windows (concentric rectangles weighted 1/k^2, the
// two halves of opposite sign) normalised to the eps sphere; each query moves the perturbation's
// mass of one window (odd side >= 3) into another and redraws the first, keeping the L2 norm at eps.
//
// perturb: x [N,C,H,W] in [0,1], y [N] -> x_adv [N,C,H,W]. No gradient is ever computed. Each call
// seeds its own CPU generator with `seed`.

#include <cstdint>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/attack/threat_model.h"

namespace armor {

struct SquareOptions {
  TORCH_ARG(double, eps) = 8.0 / 255.0;
  TORCH_ARG(Norm, norm) = Norm::linf;
  TORCH_ARG(std::int64_t, queries) = 5000;
  TORCH_ARG(double, p_init) = 0.8;
  TORCH_ARG(std::int64_t, restarts) = 1;
  TORCH_ARG(bool, rescale_schedule) = false;
  TORCH_ARG(std::uint64_t, seed) = 0;
};

class Square : public Attack {
 public:
  explicit Square(SquareOptions options);
  torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override;
  std::string describe() const override;
  std::optional<ThreatBall> threat_ball() const override { return ThreatBall{options_.norm(), options_.eps()}; }
  bool uses_gradients() const override { return false; }

  // The fraction of pixels a window covers at query `query` (0-based).
  double window_fraction(std::int64_t query) const;

 private:
  torch::Tensor single_run(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, at::Generator& generator);
  torch::Tensor single_run_l2(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                              at::Generator& generator);
  SquareOptions options_;
};

}  // namespace armor
