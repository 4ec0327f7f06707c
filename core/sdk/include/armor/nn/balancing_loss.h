#pragma once
// BalancingLoss: an auxiliary loss on a MoE layer's routing (plugins of kind "balancing").
// forward: the GateOutput of one layer's last forward -> a scalar tensor (differentiable in probs).

#include <torch/types.h>

#include "armor/nn/gate.h"

namespace armor {

class BalancingLoss {
 public:
  virtual ~BalancingLoss() = default;
  virtual torch::Tensor forward(const GateOutput& routing) = 0;
};

}  // namespace armor
