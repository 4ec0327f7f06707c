#pragma once
// ExpertEnsemble: an output-level Mixture of Experts F(x) = sum_e w_e(x) * f_e(x) whose experts f_e
// are whole classifiers (paper 1, ALGORITHMS.md §2). What RT-ER and JTDMoE trainers, and attacks on
// single experts, work with. Reach it from any model with `model.expert_ensemble()` (nullptr when
// the model is not one).
//
// Shapes: x [N,C,H,W] in [0,1]; E experts; K classes.
//   forward(x)             -> logits [N,K] = sum over the routed experts of weights[n,e] * f_e(x_n)
//   route(x)               -> GateOutput: probs [N,E] (rank experts with probs.topk), indices [N,k],
//                             weights [N,E] (what forward combines with), logits [N,E]
//   expert(e)              -> f_e as a Classifier of its own: x [N,C,H,W] -> [N,K]; hand it to an
//                             Attack to attack expert e alone (its normalisation is inside it)
//   expert_logits(x)       -> [E,N,K]: every expert on every image
//   forward_routed(x, r)   -> [N,K]: the experts combined with a given routing r (a route held
//                             fixed, e.g. the clean route while the experts are attacked: RA-E)
// The router follows the model's train/eval mode like forward does (a noisy gate adds its noise in
// training mode); call route() under the same mode as the forward it should explain.

#include <cstdint>

#include <torch/types.h>

#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"

namespace armor {

class ExpertEnsemble : public Classifier {
 public:
  ExpertEnsemble* expert_ensemble() final { return this; }

  virtual std::int64_t num_experts() const = 0;
  virtual Classifier& expert(std::int64_t index) = 0;
  virtual GateOutput route(const torch::Tensor& x) = 0;
  virtual torch::Tensor forward_routed(const torch::Tensor& x, const GateOutput& routing) = 0;
  // Default: each expert once on the whole batch, stacked.
  virtual torch::Tensor expert_logits(const torch::Tensor& x);
};

// The output-level combination: weights [N,E], expert_logits [E,N,K] -> [N,K] = sum_e w[n,e] * l[e,n,:].
// Dense (every expert's logits are needed); forward() computes the same sum sparsely.
torch::Tensor combine_expert_logits(const torch::Tensor& weights, const torch::Tensor& expert_logits);

}  // namespace armor
