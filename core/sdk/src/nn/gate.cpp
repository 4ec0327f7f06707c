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
  const double minus_infinity = -std::numeric_limits<double>::infinity();
  const auto long_options = s.options().dtype(torch::kInt64);
  // Rank positions to scatter: column index within a row, row index within a column.
  const torch::Tensor column_positions =
      torch::arange(experts, long_options).unsqueeze(0).expand({n, experts}).contiguous();
  const torch::Tensor row_positions = torch::arange(n, long_options).unsqueeze(1).expand({n, experts}).contiguous();
  // rank[i,j] of value[i,j] along `dim`, largest first (stable: ties keep the batch order).
  const auto descending_rank = [&](const torch::Tensor& value, std::int64_t dim) {
    const torch::Tensor order = std::get<1>(value.sort(/*stable=*/true, dim, /*descending=*/true));
    return torch::empty_like(order).scatter_(dim, order, dim == 0 ? row_positions : column_positions);
  };
  torch::Tensor placed = torch::zeros({n, experts}, s.options().dtype(torch::kBool));
  torch::Tensor need = torch::full({n}, k, long_options);
  torch::Tensor room = torch::full({experts}, capacity, long_options);
  const std::int64_t limited_rounds = experts + 1;
  for (std::int64_t round = 0; round <= limited_rounds; ++round) {
    const bool unlimited = round == limited_rounds;
    // The released code sets the scores of placed pairs to -1e5 before its softmax; rows with
    // every expert placed (k = E) are all -inf here, their NaNs never proposed.
    const torch::Tensor gates = torch::softmax(s.masked_fill(placed, minus_infinity), 1).nan_to_num(0.0);
    torch::Tensor open = placed.logical_not().logical_and(need.gt(0).unsqueeze(1));
    if (!unlimited) open = open.logical_and(room.gt(0).unsqueeze(0));
    // Each image proposes its `need` best open experts (gates >= 0 > the -1 of closed ones).
    const torch::Tensor proposed =
        open.logical_and(descending_rank(gates.masked_fill(open.logical_not(), -1.0), 1).lt(need.unsqueeze(1)));
    // Each expert keeps the proposals with the highest gate values, up to its room.
    const torch::Tensor accepted =
        unlimited ? proposed
                  : proposed.logical_and(
                        descending_rank(gates.masked_fill(proposed.logical_not(), -1.0), 0).lt(room.unsqueeze(0)));
    placed = placed.logical_or(accepted);
    need = need - accepted.sum(1);
    room = room - accepted.sum(0);
  }
  return std::get<1>(s.masked_fill(placed.logical_not(), minus_infinity).topk(k, 1));
}

}  // namespace armor
