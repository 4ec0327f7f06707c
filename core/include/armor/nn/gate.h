#pragma once
// Gate: the routing module of a MoE layer. Gates are plugins (kind "gate").
//
// forward: x [N, ...] (the MoE layer's input) -> GateOutput with
//   logits  [N,E]  router scores before the softmax
//   probs   [N,E]  softmax(logits): what balancing losses read
//   indices [N,k]  the chosen experts per image (int64), best first
//   weights [N,E]  combine weights, zero off the chosen k; differentiable into probs
// and, from gates with learned noise (noisy_topk), what Shazeer's load term needs:
//   clean_logits [N,E], noise_std [N,E] (undefined otherwise).

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace armor {

struct GateOutput {
  torch::Tensor logits;
  torch::Tensor probs;
  torch::Tensor indices;
  torch::Tensor weights;
  torch::Tensor clean_logits;  // noisy gates: logits before the noise
  torch::Tensor noise_std;     // noisy gates: the noise's standard deviation per logit
};

// What a gate factory is told about the layer it routes for.
struct GateShape {
  std::int64_t in_channels = 0;          // channels (dim 1) of the layer input
  std::int64_t num_experts = 0;
  std::int64_t k = 1;
  std::vector<std::int64_t> input_shape;  // one image's input [C,H,W] (or [C]); empty when unknown
  // Names of the experiment's balancing losses ([balancing] first). Paper 2's top-k gate trains
  // without noise when the loss is "entropy".
  std::vector<std::string> balancing_losses;

  bool has_balancing_loss(const std::string& name) const;
};

class Gate : public torch::nn::Module {
 public:
  virtual GateOutput forward(const torch::Tensor& x) = 0;
};

// Combine weights from probabilities and chosen experts, the rule shared by top-k gates:
// k = 1 -> weight 1 on the chosen expert with a straight-through gradient into probs;
// k > 1 -> the chosen probabilities renormalised to sum to 1.
// probs [N,E], indices [N,k] -> weights [N,E]
torch::Tensor combine_weights(const torch::Tensor& probs, const torch::Tensor& indices);

// Expert capacity of paper 2: max(1, ceil(k * N / E * capacity_factor)).
std::int64_t expert_capacity(std::int64_t batch, std::int64_t num_experts, std::int64_t k, double capacity_factor);

// Top-k routing with an expert capacity: scores [N,E] -> indices [N,k], each image's k distinct
// experts, best first. Slot by slot, each image proposes its best expert not yet taken; an expert
// accepts proposals in batch order while it has room; a refused image proposes its next best
// expert (overflow), and so on. Batched over images (E rounds per slot, no host sync). capacity <= 0
// means unlimited (plain top-k). When N*k > E*capacity some images cannot be placed: they go to
// their best remaining expert regardless of capacity.
torch::Tensor top_k_with_capacity(const torch::Tensor& scores, std::int64_t k, std::int64_t capacity);

}  // namespace armor
