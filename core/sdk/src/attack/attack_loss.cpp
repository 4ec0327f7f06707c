#include "armor/attack/attack_loss.h"

#include <torch/torch.h>

#include "armor/error.h"
#include "armor/params/params.h"

namespace armor {

AttackLoss attack_loss_from_string(const std::string& text) {
  if (text == "ce") return AttackLoss::cross_entropy;
  if (text == "dlr") return AttackLoss::dlr;
  throw ConfigError("attack loss must be ce or dlr (got '" + text + "')");
}

AttackLoss attack_loss_from_string(const Params& params, const std::string& name) {
  const std::string& text = params.string(name);
  if (text == "ce") return AttackLoss::cross_entropy;
  if (text == "dlr") return AttackLoss::dlr;
  params.fail(name, "must be ce or dlr");
}

const char* to_string(AttackLoss loss) { return loss == AttackLoss::cross_entropy ? "ce" : "dlr"; }

torch::Tensor cross_entropy_per_image(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(logits, y,
                                              torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& y) {
  TORCH_CHECK(logits.size(1) >= 3, "the DLR loss needs at least 3 classes (got ", logits.size(1), ")");
  auto [sorted, order] = logits.sort(1);
  const torch::Tensor top_is_y = order.select(1, -1).eq(y).to(logits.scalar_type());
  const torch::Tensor z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  return -(z_y - sorted.select(1, -2) * top_is_y - sorted.select(1, -1) * (1.0 - top_is_y)) /
         (sorted.select(1, -1) - sorted.select(1, -3) + 1e-12);
}

torch::Tensor targeted_dlr_loss(const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor& target) {
  TORCH_CHECK(logits.size(1) >= 4, "the targeted DLR loss needs at least 4 classes (got ", logits.size(1), ")");
  const torch::Tensor sorted = std::get<0>(logits.sort(1));
  const torch::Tensor z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  const torch::Tensor z_t = logits.gather(1, target.unsqueeze(1)).squeeze(1);
  return -(z_y - z_t) / (sorted.select(1, -1) - 0.5 * (sorted.select(1, -3) + sorted.select(1, -4)) + 1e-12);
}

torch::Tensor logit_margin(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor z_y = logits.gather(1, y.unsqueeze(1)).squeeze(1);
  const torch::Tensor others = logits.scatter(1, y.unsqueeze(1), -std::numeric_limits<float>::infinity());
  return z_y - std::get<0>(others.max(1));
}

torch::Tensor attack_loss(AttackLoss loss, const torch::Tensor& logits, const torch::Tensor& y) {
  return loss == AttackLoss::cross_entropy ? cross_entropy_per_image(logits, y) : dlr_loss(logits, y);
}

}  // namespace armor
