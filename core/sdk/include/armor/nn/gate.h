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
// MoeLayer adds to the routing record of its last forward (gates leave it undefined):
//   expert_means [E]  mean output of each expert over the images routed to it (0 for an expert
//                     that got none), differentiable: what paper 2's variance_alpha term reads.

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
  torch::Tensor clean_logits;       // noisy gates: logits before the noise
  torch::Tensor noise_std;          // noisy gates: the noise's standard deviation per logit
  torch::Tensor expert_means = {};  // set by MoeLayer: [E] mean output per expert on its images
};

// What a gate factory is told about the layer it routes for.
struct GateShape {
  std::int64_t in_channels = 0;  // channels (dim 1) of the layer input
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
  // True for a gate whose routing is a fixed function that never trains (linear_router's
  // mode = "hard"): its GateOutput carries no gradient, so nothing (task or balancing loss)
  // reaches its parameters or, through it, the modules before it. A model that puts trainable
  // modules in front of such a gate (output_moe's router stem) holds them fixed too.
  virtual bool is_fixed() const { return false; }
};

// Combine weights from probabilities and chosen experts, the rule shared by top-k gates:
// k = 1 -> weight 1 on the chosen expert with a straight-through gradient into probs;
// k > 1 -> the chosen probabilities renormalised to sum to 1.
// probs [N,E], indices [N,k] -> weights [N,E]
torch::Tensor combine_weights(const torch::Tensor& probs, const torch::Tensor& indices);

// Expert capacity of paper 2: max(1, ceil(k * N / E * capacity_factor)).
std::int64_t expert_capacity(std::int64_t batch, std::int64_t num_experts, std::int64_t k, double capacity_factor);

// Top-k routing with an expert capacity, paper 2's released `_enforce_capacity` (ALGORITHMS.md §1):
// scores [N,E] -> indices [N,k], each image's k distinct experts, best first. The gate values are
// g = softmax(scores) over the experts an image is not placed at yet. In rounds: every image still
// short of k experts proposes its best experts among those with room (as many as it still needs);
// every expert keeps, of the images proposing to it, the ones with the highest gate values, up to
// its remaining room; the refused images propose their next best experts in the next round. The
// routing does not depend on the batch order (permuting the images permutes the routing; ties
// aside). capacity <= 0 means unlimited (plain top-k). Batched: E + 1 rounds of [N,E] tensor
// operations (enough to place every image an expert has room for), no per-image loop and no host
// sync. When N*k > E*capacity some images cannot be placed: a last round puts them at their best
// remaining experts regardless of capacity (the released code's last iteration).
torch::Tensor top_k_with_capacity(const torch::Tensor& scores, std::int64_t k, std::int64_t capacity);

}  // namespace armor
