#include "armor/train/balancing_term.h"

#include <torch/torch.h>

#include "armor/nn/classifier.h"

namespace armor {

torch::Tensor BalancingTerm::compute(Classifier& model) const {
  torch::Tensor total = torch::zeros({}, model.parameters().empty() ? torch::TensorOptions()
                                                                    : model.parameters().front().options());
  if (!loss_ || weight_ == 0.0) return total;
  for (auto& [name, layer] : model.moe_layers()) {
    const GateOutput& routing = layer->last_routing();
    if (routing.probs.defined()) total = total + loss_->forward(routing);
  }
  return total * weight_;
}

}  // namespace armor
