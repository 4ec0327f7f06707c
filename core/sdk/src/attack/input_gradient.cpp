#include "armor/attack/input_gradient.h"

#include <torch/torch.h>

#include "armor/nn/classifier.h"

namespace armor {

InputGradient input_gradient(Classifier& model, const torch::Tensor& x, const PerImageLoss& loss) {
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor input = x.detach().requires_grad_(true);
  const torch::Tensor logits = model.forward(input);
  const torch::Tensor per_image = loss(logits);
  torch::Tensor gradient = torch::autograd::grad({per_image.sum()}, {input})[0];
  return {logits.detach(), per_image.detach(), gradient.detach()};
}

torch::Tensor predict_labels(Classifier& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x).argmax(1);
}

std::int64_t record_fooled(torch::Tensor& robust, torch::Tensor& adversarial, const torch::Tensor& index,
                           const torch::Tensor& candidate, const torch::Tensor& fooled) {
  torch::NoGradGuard no_grad;
  const torch::Tensor fooled_index = index.masked_select(fooled);
  robust.index_fill_(0, fooled_index, false);
  adversarial.index_copy_(0, fooled_index, candidate.index({fooled}));
  return fooled_index.numel();
}

}  // namespace armor
