#include "armor/nn/dual_model.h"

#include <torch/torch.h>

namespace armor {

torch::Tensor dual_logits(const torch::Tensor& standard_logits, const torch::Tensor& robust_logits, double alpha) {
  TORCH_CHECK(alpha >= 0.0 && alpha <= 1.0, "dual_logits: alpha must be in [0,1] (got ", alpha, ")");
  return standard_logits * (1.0 - alpha) + robust_logits * alpha;
}

}  // namespace armor
