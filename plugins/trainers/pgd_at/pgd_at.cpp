// trainer/pgd_at: Madry adversarial training: the loss is taken on adversarial images only, made by
// the experiment's [attack] against the current model (+ the balancing term once per step).
// attack_mode chooses the model's mode while the attack runs; training mode is restored after it,
// so BatchNorm and dropout are always in training mode for the weight update.

#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"

namespace {

class PgdAtTrainer : public armor::EpochTrainer {
 public:
  using EpochTrainer::EpochTrainer;

 protected:
  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    if (ctx.attack == nullptr) throw armor::RunError("trainer pgd_at needs an [attack] section");
    const torch::Tensor adversarial = while_crafting(ctx, [&] { return ctx.attack->perturb(ctx.model, x, y); });
    const torch::Tensor logits = ctx.model.forward(adversarial);
    return {torch::nn::functional::cross_entropy(logits, y), logits};
  }
};

void register_pgd_at(armor::Registry& registry) {
  registry.add_trainer("pgd_at", "PGD adversarial training (Madry et al.): loss on adversarial images only",
                       armor::adversarial_trainer_params(),
                       [](const armor::Params& params) { return std::make_shared<PgdAtTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("pgd_at", "1.0", register_pgd_at)
