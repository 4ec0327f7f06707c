#pragma once
// DualModel: paper 1's dual model F_D(x) = (1 - alpha) * F_S(x) + alpha * F_R(x) on logits
// (ALGORITHMS.md §2), F_S a standard and F_R a robust member (each usually an ExpertEnsemble).
// Reach it from any model with `model.dual_model()` (nullptr when the model is not one).
//
// forward: x [N,C,H,W] in [0,1] -> logits [N,K]. standard() and robust() are submodules of the dual
// model: a JTDMoE trainer optimises robust()->parameters() and standard()->parameters() in separate
// steps, and evaluation scores each member alone by passing it as the model.

#include <torch/types.h>

#include "armor/nn/classifier.h"

namespace armor {

class DualModel : public Classifier {
 public:
  DualModel* dual_model() final { return this; }

  virtual Classifier& standard() = 0;  // F_S
  virtual Classifier& robust() = 0;    // F_R
  virtual double alpha() const = 0;    // weight of F_R, in [0,1]
};

// (1 - alpha) * standard_logits + alpha * robust_logits, both [N,K].
torch::Tensor dual_logits(const torch::Tensor& standard_logits, const torch::Tensor& robust_logits, double alpha);

}  // namespace armor
