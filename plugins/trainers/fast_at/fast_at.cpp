// trainer/fast_at: "Fast is better than free" (Wong et al. 2020): delta uniform in the eps-ball,
// one FGSM step of step_ratio x eps from there, projected back to the ball and [0,1]; the loss is
// CE on x + delta. eps from [attack] (L-infinity). Pair it with schedule = "cyclic".

#include <torch/torch.h>

#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/threat_model.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"

namespace {

class FastAtTrainer : public armor::EpochTrainer {
 public:
  explicit FastAtTrainer(const armor::Params& params) : EpochTrainer(params), step_ratio_(params.real("step_ratio")) {}

 protected:
  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    const armor::ThreatBall ball = threat_ball(ctx, "fast_at");
    if (ball.norm != armor::Norm::linf) throw armor::RunError("trainer fast_at supports an L-infinity [attack] only");
    const torch::Tensor adversarial = while_crafting(ctx, [&] {
      armor::FrozenParameters frozen(ctx.model);
      const torch::Tensor start = (x + (torch::rand_like(x) * 2.0 - 1.0) * ball.eps).clamp(0.0, 1.0);
      const auto loss = [&](const torch::Tensor& logits) {
        return torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      };
      const torch::Tensor gradient = armor::input_gradient(ctx.model, start, loss).gradient;
      torch::NoGradGuard no_grad;
      return armor::project_linf(start + step_ratio_ * ball.eps * gradient.sign(), x, ball.eps);
    });
    const torch::Tensor logits = ctx.model.forward(adversarial);
    return {torch::nn::functional::cross_entropy(logits, y), logits};
  }

 private:
  double step_ratio_;
};

void register_fast_at(armor::Registry& registry) {
  registry.add_trainer(
      "fast_at", "Fast adversarial training (Wong et al. 2020): random start + one FGSM step at [attack]'s eps",
      armor::adversarial_trainer_params().real("step_ratio", 1.25, "FGSM step as a multiple of eps", 0),
      [](const armor::Params& params) { return std::make_shared<FastAtTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("fast_at", "1.0", register_fast_at)
