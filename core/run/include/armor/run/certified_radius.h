#pragma once
// Paper 1's certified radius (ALGORITHMS.md §2, Thm. 5.4/5.5 in shape), as an estimate:
//   ||F(x+d) - F(x)||_2 <= S(x) ||d||_2,  S(x) = sum_e (a_e(x) L_e + r)
// so F's prediction cannot change while ||d||_2 < margin(x) / (2 S(x)), margin = the gap between the
// two largest softmax outputs of F (the theorem wants outputs bounded by 1). a_e(x) are the router
// weights, L_e each expert's and r the router's Lipschitz constant. The dual model mixes the slopes:
// S_D = (1 - alpha) S_S + alpha S_R. A dense model is one expert with weight 1 and r = 0.
//
// The Lipschitz constants are estimates, not proofs: the product over a network's layers of their
// L2 operator norms (linear: largest singular value by power iteration; conv: sqrt(kh kw) times that
// of the reshaped kernel, an upper bound for any input size and stride; BatchNorm in eval mode:
// max |gamma| / sqrt(running_var + 1e-5); input normalisation: 1 / min std; ReLU: 1). This bounds a
// plain chain of such layers; skip connections (ResNets), attention and LayerNorm (ViT) are not
// accounted for, and a hard top-k router is not Lipschitz at all. `assumptions` says which applied.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace armor {

class Classifier;
struct LabelledImages;

// Largest singular value of matrix [m,n] by `iterations` steps of power iteration (seeded).
double spectral_norm(const torch::Tensor& matrix, int iterations = 100);

struct LipschitzEstimate {
  double value = 1.0;
  std::vector<std::string> uncovered;  // parameterised layers the estimate could not bound
};

// The product of the layer bounds over every submodule of `module` whose qualified name does not
// contain any of `skip` (e.g. ".expert" to leave the experts out of a router's estimate).
LipschitzEstimate lipschitz_estimate(const torch::nn::Module& module, const std::vector<std::string>& skip = {});

struct CertifiedRadius {
  torch::Tensor radius;  // [N] L2 radius per image; 0 where the prediction is wrong
  double router_lipschitz = 0.0;
  std::vector<double> expert_lipschitz;
  std::string assumptions;  // what the estimate assumed and left out, for the run's log
};

// x [N,C,H,W] in [0,1], y [N]; the model in eval mode.
CertifiedRadius certified_radius(Classifier& model, const torch::Tensor& x, const torch::Tensor& y);

// Over a whole split, batch by batch: metrics cert_radius_mean (mean radius, 0 for wrong
// predictions), cert_acc (share of images correct with radius >= eps_l2), cert_router_lipschitz,
// cert_expert_lipschitz_max; the assumptions are printed with them.
std::vector<std::pair<std::string, double>> evaluate_certified_radius(Classifier& model, const LabelledImages& data,
                                                                      std::int64_t batch_size, torch::Device device,
                                                                      double eps_l2);

}  // namespace armor
