// attack/fgsm: the fast gradient sign method (Goodfellow et al. 2015): one step of size eps along
// sign(grad CE). x [N,C,H,W] in [0,1], y [N] -> x_adv with |x_adv - x|_inf <= eps, in [0,1].

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/attack/attack_loss.h"
#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/threat_model.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class Fgsm : public armor::Attack {
 public:
  explicit Fgsm(const armor::Params& params) : eps_(params.real("eps")) {}

  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    armor::FrozenParameters frozen(model);
    const auto loss = [&](const torch::Tensor& logits) { return armor::cross_entropy_per_image(logits, y); };
    const torch::Tensor gradient = armor::input_gradient(model, x, loss).gradient;
    torch::NoGradGuard no_grad;
    return armor::project_linf(x.detach() + eps_ * gradient.sign(), x.detach(), eps_);
  }

  std::optional<armor::ThreatBall> threat_ball() const override { return armor::ThreatBall{armor::Norm::linf, eps_}; }
  std::string describe() const override { return fmt::format("FGSM Linf eps={:.5g}", eps_); }

 private:
  double eps_;
};

void register_fgsm(armor::Registry& registry) {
  registry.add_attack("fgsm", "Fast gradient sign method, L-infinity (Goodfellow et al.)",
                      armor::ParamSchema().real("eps", 8.0 / 255.0, "L-infinity radius in [0,1] pixel units", 0, 1),
                      [](const armor::Params& params) { return std::make_shared<Fgsm>(params); });
}

}  // namespace

ARMOR_PLUGIN("fgsm", "1.0", register_fgsm)
