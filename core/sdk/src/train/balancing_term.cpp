#include "armor/train/balancing_term.h"

#include <torch/torch.h>

#include "armor/nn/classifier.h"

namespace armor {

void BalancingTerm::add(std::string name, std::shared_ptr<BalancingLoss> loss, double weight) {
  terms_.push_back({std::move(name), std::move(loss), weight});
}

std::vector<std::string> BalancingTerm::names() const {
  std::vector<std::string> names;
  for (const Term& term : terms_) names.push_back(term.name);
  return names;
}

torch::Tensor BalancingTerm::compute(Classifier& model) const {
  const auto parameters = model.parameters();
  torch::Tensor total = torch::zeros({}, parameters.empty() ? torch::TensorOptions() : parameters.front().options());
  bool any = false;
  for (const Term& term : terms_) any = any || (term.loss && term.weight != 0.0);
  if (!any) return total;
  for (auto& [name, layer] : model.moe_layers()) {
    const GateOutput& routing = layer->last_routing();
    if (!routing.probs.defined()) continue;
    for (const Term& term : terms_) {
      if (term.loss && term.weight != 0.0) total = total + term.weight * term.loss->forward(routing);
    }
  }
  return total;
}

}  // namespace armor
