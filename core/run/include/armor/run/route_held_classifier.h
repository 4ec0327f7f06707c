#pragma once
// RouteHeldClassifier: a MoE model seen through a held route, so that any Attack plugin attacks
// one part of the MoE unchanged (ALGORITHMS.md §2-3, paper 1's RA-E and RA-R):
//
//   experts (RA-E): f(x') = the model on x' with every MoE layer combining its experts with the
//       routing the model chose on the clean image x (held: indices and weights, no gradient).
//       The attack moves what the experts see; the route never changes.
//   router (RA-R):  f(x') = the model on the clean image x with every MoE layer combining its
//       experts with the routing the model chooses on x' (the gates of a forward of x', whose later
//       gates see the features of x'; weights keep their straight-through gradient into the gate
//       probabilities). The attack moves what the gates see; the experts see only clean inputs, so
//       the attack can change the output only by changing the route.
//
// hold(x) fixes the clean batch x [N,C,H,W] (and, for RA-E, computes its route under no_grad).
// forward(x') -> logits [n,K]. x' is the held batch perturbed (n = N, same order) or a subset of
// it (n < N: an ensemble such as AutoAttack attacks only the images still robust); a subset is
// matched to its clean images by nearest neighbour in L-infinity, each x' lying in its image's
// eps-ball (exact when the held images differ by more than 2 eps in some pixel).
// Every MoE layer of the model (moe_layers(), layer- and output-level MoEs alike) is held.
// The model's parameters are not this module's: callers freeze them (FrozenParameters) while an
// attack runs on the wrapper.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"

namespace armor {

enum class HeldPart { experts, router };  // attacked: experts (RA-E, route held), router (RA-R)

class RouteHeldClassifier : public Classifier {
 public:
  // The model must have at least one MoE layer (RunError otherwise).
  RouteHeldClassifier(Classifier& model, HeldPart attacked);

  void hold(const torch::Tensor& clean);
  HeldPart attacked() const noexcept { return attacked_; }
  torch::Tensor forward(const torch::Tensor& x) override;

  // The clean route of the held batch, per MoE layer (RA-E; empty for RA-R).
  const std::vector<GateOutput>& clean_routing() const noexcept { return clean_routing_; }

 private:
  torch::Tensor clean_indices_of(const torch::Tensor& x) const;  // [n] rows of the held batch
  torch::Tensor forward_with(const torch::Tensor& x, const std::vector<GateOutput>& routing);

  Classifier& model_;
  HeldPart attacked_;
  std::vector<MoeLayer> layers_;
  torch::Tensor clean_;
  std::vector<GateOutput> clean_routing_;
};

// The routing's rows `rows` [n] (every defined tensor), detached when `detach`.
GateOutput select_routing(const GateOutput& routing, const torch::Tensor& rows, bool detach);

}  // namespace armor
