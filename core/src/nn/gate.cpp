#include "armor/nn/gate.h"

#include <torch/torch.h>

namespace armor {

torch::Tensor combine_weights(const torch::Tensor& probs, const torch::Tensor& indices) {
  const torch::Tensor chosen = probs.gather(1, indices);  // [N,k]
  torch::Tensor values;
  if (indices.size(1) == 1) {
    // Value 1, gradient of the chosen probability: the straight-through estimator.
    values = chosen - chosen.detach() + 1.0;
  } else {
    values = chosen / chosen.sum(1, /*keepdim=*/true).clamp_min(1e-12);
  }
  return torch::zeros_like(probs).scatter(1, indices, values);
}

}  // namespace armor
