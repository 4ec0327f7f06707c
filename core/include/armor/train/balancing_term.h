#pragma once
// BalancingTerm: the configured balancing loss, weighted, summed over every MoE layer of a model.
// compute(): reads each layer's routing of the last forward -> scalar (0 for a dense model).

#include <memory>

#include <torch/types.h>

#include "armor/nn/balancing_loss.h"

namespace armor {

class Classifier;

class BalancingTerm {
 public:
  BalancingTerm() = default;
  BalancingTerm(std::shared_ptr<BalancingLoss> loss, double weight) : loss_(std::move(loss)), weight_(weight) {}

  torch::Tensor compute(Classifier& model) const;
  double weight() const noexcept { return weight_; }

 private:
  std::shared_ptr<BalancingLoss> loss_;
  double weight_ = 0.0;
};

}  // namespace armor
