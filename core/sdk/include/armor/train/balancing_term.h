#pragma once
// BalancingTerm: the configured balancing losses, each weighted, summed over every MoE layer of a
// model. compute(): reads each layer's routing of the last forward -> scalar (0 for a dense model).
//   sum over losses l, over layers with gate probabilities: weight_l * loss_l(routing of the layer)

#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/nn/balancing_loss.h"

namespace armor {

class Classifier;

class BalancingTerm {
 public:
  BalancingTerm() = default;
  BalancingTerm(std::shared_ptr<BalancingLoss> loss, double weight) { add("balancing", std::move(loss), weight); }

  // Adds a loss; weight 0 (or a null loss) is kept as off.
  void add(std::string name, std::shared_ptr<BalancingLoss> loss, double weight);

  torch::Tensor compute(Classifier& model) const;
  // The first loss's weight (0 when none): what a single [balancing] section configures.
  double weight() const noexcept { return terms_.empty() ? 0.0 : terms_.front().weight; }
  std::vector<std::string> names() const;

 private:
  struct Term {
    std::string name;
    std::shared_ptr<BalancingLoss> loss;
    double weight = 0.0;
  };
  std::vector<Term> terms_;
};

}  // namespace armor
