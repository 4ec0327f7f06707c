#pragma once
// The gradient of a per-image loss with respect to the input only (torch::autograd::grad on x, so
// no parameter gradient is ever accumulated). The loss is summed over the batch before the
// backward pass, so each image's gradient is that of its own loss.
//
// x [N,C,H,W] -> logits [N,K], loss [N], gradient [N,C,H,W] (all detached).

#include <cstdint>
#include <functional>

#include <torch/types.h>

namespace armor {

class Classifier;

struct InputGradient {
  torch::Tensor logits;
  torch::Tensor loss;
  torch::Tensor gradient;
};

using PerImageLoss = std::function<torch::Tensor(const torch::Tensor& logits)>;

InputGradient input_gradient(Classifier& model, const torch::Tensor& x, const PerImageLoss& loss);

// model(x).argmax(1) without building a graph. x [N,...] -> [N] int64
torch::Tensor predict_labels(Classifier& model, const torch::Tensor& x);

// After an attack ran on the images `index` [n] of a batch: those it fooled (fooled [n] bool) stop
// being robust (robust [N] bool) and take their candidate point (candidate [n,...] into
// adversarial [N,...]). Returns how many it fooled.
std::int64_t record_fooled(torch::Tensor& robust, torch::Tensor& adversarial, const torch::Tensor& index,
                           const torch::Tensor& candidate, const torch::Tensor& fooled);

}  // namespace armor
