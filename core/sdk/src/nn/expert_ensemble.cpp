#include "armor/nn/expert_ensemble.h"

#include <vector>

#include <torch/torch.h>

namespace armor {

torch::Tensor ExpertEnsemble::expert_logits(const torch::Tensor& x) {
  std::vector<torch::Tensor> logits;
  logits.reserve(static_cast<std::size_t>(num_experts()));
  for (std::int64_t e = 0; e < num_experts(); ++e) logits.push_back(expert(e).forward(x));
  return torch::stack(logits, 0);
}

torch::Tensor combine_expert_logits(const torch::Tensor& weights, const torch::Tensor& expert_logits) {
  TORCH_CHECK(weights.dim() == 2 && expert_logits.dim() == 3 && weights.size(0) == expert_logits.size(1) &&
                  weights.size(1) == expert_logits.size(0),
              "combine_expert_logits: weights [N,E] and expert logits [E,N,K] disagree (got ", weights.sizes(), " and ",
              expert_logits.sizes(), ")");
  return torch::einsum("ne,enk->nk", {weights, expert_logits});
}

}  // namespace armor
