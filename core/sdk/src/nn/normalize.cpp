#include "armor/nn/normalize.h"

#include <torch/torch.h>

namespace armor {

NormalizeImpl::NormalizeImpl(std::vector<double> mean_, std::vector<double> std_)
    : mean_values(std::move(mean_)), std_values(std::move(std_)) {
  TORCH_CHECK(mean_values.size() == std_values.size(), "Normalize: ", mean_values.size(), " means but ",
              std_values.size(), " standard deviations");
  reset();
}

void NormalizeImpl::reset() {
  const auto channels = static_cast<std::int64_t>(mean_values.size());
  mean = register_buffer("mean", torch::tensor(mean_values, torch::kFloat32).view({1, channels, 1, 1}));
  std = register_buffer("std", torch::tensor(std_values, torch::kFloat32).view({1, channels, 1, 1}));
}

torch::Tensor NormalizeImpl::forward(const torch::Tensor& x) { return (x - mean) / std; }

}  // namespace armor
