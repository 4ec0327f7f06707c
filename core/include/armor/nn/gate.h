#pragma once
// Gate: the routing module of a MoE layer. Gates are plugins (kind "gate").
//
// forward: x [N, ...] (the MoE layer's input) -> GateOutput with
//   logits  [N,E]  router scores before the softmax
//   probs   [N,E]  softmax(logits): what balancing losses read
//   indices [N,k]  the chosen experts per image (int64)
//   weights [N,E]  combine weights, zero off the chosen k; differentiable into probs

#include <cstdint>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace armor {

struct GateOutput {
  torch::Tensor logits;
  torch::Tensor probs;
  torch::Tensor indices;
  torch::Tensor weights;
};

// What a gate factory is told about the layer it routes for.
struct GateShape {
  std::int64_t in_channels = 0;  // channels (dim 1) of the layer input
  std::int64_t num_experts = 0;
  std::int64_t k = 1;
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

}  // namespace armor
