#pragma once
// Per-image losses that attacks maximise (or, for the margin, minimise).
// logits [N,K], y [N] int64 (and target [N] int64) -> loss [N].
//   cross_entropy_per_image: CE(logits, y)
//   dlr_loss:                -(z_y - max_{i!=y} z_i) / (z_pi1 - z_pi3 + 1e-12)       (Croce & Hein 2020)
//   targeted_dlr_loss:       -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12)
//   logit_margin:            z_y - max_{i!=y} z_i  (<= 0 once misclassified)
// pi sorts the logits in decreasing order. DLR needs K >= 3 classes, targeted DLR K >= 4.

#include <string>

#include <torch/types.h>

namespace armor {

class Params;

enum class AttackLoss { cross_entropy, dlr };

// "ce" -> cross_entropy, "dlr" -> dlr; a ConfigError naming the text otherwise.
AttackLoss attack_loss_from_string(const std::string& text);
// The loss the section's key `name` holds; a ConfigError naming the key, its origin and the value otherwise.
AttackLoss attack_loss_from_string(const Params& params, const std::string& name);
const char* to_string(AttackLoss loss);

torch::Tensor cross_entropy_per_image(const torch::Tensor& logits, const torch::Tensor& y);
torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& y);
torch::Tensor targeted_dlr_loss(const torch::Tensor& logits, const torch::Tensor& y, const torch::Tensor& target);
torch::Tensor logit_margin(const torch::Tensor& logits, const torch::Tensor& y);
// The loss chosen by `loss`, per image.
torch::Tensor attack_loss(AttackLoss loss, const torch::Tensor& logits, const torch::Tensor& y);

}  // namespace armor
