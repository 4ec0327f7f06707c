// trainer/trades: TRADES (Zhang et al. 2019). Per step:
//   x' = x + 0.001 N(0,1), then `steps` times x' <- Proj_{B(x,eps) ∩ [0,1]}(x' + step sign(grad KL(f(x) || f(x'))))
//   loss = CE(f(x), y) + beta (1/B) sum_i KL(softmax f(x_i) || softmax f(x'_i))
// eps and the norm (L-infinity only) come from [attack] (TRADES' CIFAR-10 setting is eps = 0.031);
// step = step_size (default 0.007, TRADES' reference code), or step_ratio x eps when step_ratio > 0.
// The inner attack runs in attack_mode (TRADES' code: eval), with parameters frozen; the update in
// training mode.

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

namespace F = torch::nn::functional;

class TradesTrainer : public armor::EpochTrainer {
 public:
  explicit TradesTrainer(const armor::Params& params)
      : EpochTrainer(params),
        beta_(params.real("beta")),
        steps_(params.integer("steps")),
        step_size_(params.real("step_size")),
        step_ratio_(params.real("step_ratio")) {}

 protected:
  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    const armor::ThreatBall ball = threat_ball(ctx, "trades");
    if (ball.norm != armor::Norm::linf) throw armor::RunError("trainer trades supports an L-infinity [attack] only");
    const torch::Tensor adversarial = while_crafting(ctx, [&] { return kl_attack(ctx.model, x, ball.eps); });
    const torch::Tensor adversarial_logits = ctx.model.forward(adversarial);
    const torch::Tensor logits = ctx.model.forward(x);
    const torch::Tensor natural = F::cross_entropy(logits, y);
    const torch::Tensor robust =
        F::kl_div(F::log_softmax(adversarial_logits, F::LogSoftmaxFuncOptions(1)),
                  F::softmax(logits, F::SoftmaxFuncOptions(1)), F::KLDivFuncOptions().reduction(torch::kSum)) /
        static_cast<double>(x.size(0));
    return {natural + beta_ * robust, logits};
  }

 private:
  torch::Tensor kl_attack(armor::Classifier& model, const torch::Tensor& x, double eps) {
    armor::FrozenParameters frozen(model);
    torch::Tensor clean_probs;
    {
      torch::NoGradGuard no_grad;
      clean_probs = torch::softmax(model.forward(x), 1);
    }
    const torch::Tensor clean_log_probs = clean_probs.clamp_min(1e-12).log();
    const auto kl = [&](const torch::Tensor& logits) {  // per image [N]
      return (clean_probs * (clean_log_probs - torch::log_softmax(logits, 1))).sum(1);
    };
    const double step = step_ratio_ > 0 ? step_ratio_ * eps : step_size_;
    torch::Tensor adversarial = (x + 0.001 * torch::randn_like(x)).detach();
    for (std::int64_t i = 0; i < steps_; ++i) {
      const torch::Tensor gradient = armor::input_gradient(model, adversarial, kl).gradient;
      torch::NoGradGuard no_grad;
      adversarial = armor::project_linf(adversarial + step * gradient.sign(), x, eps);
    }
    return adversarial.detach();
  }

  double beta_;
  std::int64_t steps_;
  double step_size_;
  double step_ratio_;
};

void register_trades(armor::Registry& registry) {
  registry.add_trainer(
      "trades",
      "TRADES (Zhang et al. 2019): clean CE + beta x KL(clean || adversarial), KL inner attack at [attack]'s eps",
      armor::epoch_trainer_params()
          .string("attack_mode", "eval", "Model mode while crafting the inner attack (TRADES' code: eval)",
                  {"train", "eval"})
          .real("beta", 6.0, "Weight of the robust KL term", 0)
          .integer("steps", 10, "Steps of the KL inner attack", 1)
          .real("step_size", 0.007, "Inner step size in [0,1] pixel units (TRADES' code: 0.007 at eps 0.031)", 0)
          .real("step_ratio", 0.0, "Inner step size as a fraction of eps instead of step_size (0 = use step_size)", 0),
      [](const armor::Params& params) { return std::make_shared<TradesTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("trades", "1.0", register_trades)
