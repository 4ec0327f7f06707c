#include "armor/nn/gate.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <torch/torch.h>

namespace armor {

bool GateShape::has_balancing_loss(const std::string& name) const {
  return std::find(balancing_losses.begin(), balancing_losses.end(), name) != balancing_losses.end();
}

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

std::int64_t expert_capacity(std::int64_t batch, std::int64_t num_experts, std::int64_t k, double capacity_factor) {
  const double slots = static_cast<double>(k * batch) / static_cast<double>(num_experts) * capacity_factor;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(slots)));
}

torch::Tensor top_k_with_capacity(const torch::Tensor& scores, std::int64_t k, std::int64_t capacity) {
  TORCH_CHECK(scores.dim() == 2, "top_k_with_capacity: scores must be [N,E] (got ", scores.sizes(), ")");
  const std::int64_t experts = scores.size(1);
  TORCH_CHECK(k >= 1 && k <= experts, "top_k_with_capacity: k must be in [1, ", experts, "] (got ", k, ")");
  const torch::Tensor s = scores.detach();
  if (capacity <= 0) return std::get<1>(s.topk(k, 1));
  const std::int64_t n = s.size(0);
  const auto long_options = s.options().dtype(torch::kInt64);
  const torch::Tensor preference = s.argsort(1, /*descending=*/true);  // [N,E] best first
  torch::Tensor load = torch::zeros({experts}, long_options);
  torch::Tensor taken = torch::zeros({n, experts}, s.options().dtype(torch::kBool));
  std::vector<torch::Tensor> slots;
  for (std::int64_t slot = 0; slot < k; ++slot) {
    torch::Tensor assigned = torch::full({n}, -1, long_options);
    for (std::int64_t round = 0; round < experts; ++round) {
      const torch::Tensor candidate = preference.select(1, round);                      // [N]
      const torch::Tensor active = assigned.lt(0).logical_and(taken.gather(1, candidate.unsqueeze(1)).squeeze(1).logical_not());
      const torch::Tensor proposals = torch::one_hot(candidate, experts) * active.unsqueeze(1).to(torch::kInt64);  // [N,E]
      // Proposals to the same expert before this one (batch order), plus what it already holds.
      const torch::Tensor before = (proposals.cumsum(0) - proposals).gather(1, candidate.unsqueeze(1)).squeeze(1);
      const torch::Tensor accept = active.logical_and(before.add(load.index_select(0, candidate)).lt(capacity));
      assigned = torch::where(accept, candidate, assigned);
      load = load + (proposals * accept.unsqueeze(1).to(torch::kInt64)).sum(0);
    }
    // Images no expert had room for: their best expert not yet taken, over capacity.
    const torch::Tensor fallback = s.masked_fill(taken, -std::numeric_limits<double>::infinity()).argmax(1);
    const torch::Tensor unplaced = assigned.lt(0);
    load = load + torch::bincount(fallback.masked_select(unplaced), {}, experts);
    assigned = torch::where(unplaced, fallback, assigned);
    taken = taken.scatter(1, assigned.unsqueeze(1), true);
    slots.push_back(assigned);
  }
  return torch::stack(slots, 1);
}

}  // namespace armor
