// balancing/switch: the Switch Transformer load-balancing loss, E * sum_i f_i * p̄_i - 1, with f_i
// the (non-differentiable) fraction of images whose top expert is i and p̄ the batch-mean gate
// probabilities. 0 when routing is perfectly balanced. probs [N,E] -> scalar.

#include <torch/torch.h>

#include "armor/nn/balancing_loss.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class SwitchLoss : public armor::BalancingLoss {
 public:
  torch::Tensor forward(const armor::GateOutput& routing) override {
    const std::int64_t experts = routing.probs.size(1);
    const torch::Tensor top = routing.probs.detach().argmax(1);
    const torch::Tensor fraction = torch::one_hot(top, experts).to(routing.probs.dtype()).mean(0);
    return static_cast<double>(experts) * (fraction * routing.probs.mean(0)).sum() - 1.0;
  }
};

void register_switch(armor::Registry& registry) {
  registry.add_balancing("switch", "Switch load balancing: E * sum f_i * mean p_i - 1", armor::ParamSchema(),
                         [](const armor::Params&) { return std::make_shared<SwitchLoss>(); });
}

}  // namespace

ARMOR_PLUGIN("switch", "1.0", register_switch)
