// trainer/pgd_at: Madry adversarial training: the loss is taken on adversarial images only, made by
// the experiment's [attack] against the current model (+ the balancing term once per step).
// attack_mode chooses the model's mode while the attack runs; training mode is restored after it,
// so BatchNorm and dropout are always in training mode for the weight update.

#include "armor/attack/attack.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"

namespace {

class PgdAtTrainer : public armor::EpochTrainer {
 public:
  explicit PgdAtTrainer(const armor::Params& params)
      : EpochTrainer(params), attack_in_eval_mode_(params.string("attack_mode") == "eval") {}

 protected:
  torch::Tensor training_input(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    if (ctx.attack == nullptr) throw armor::RunError("trainer pgd_at needs an [attack] section");
    if (attack_in_eval_mode_) ctx.model.eval();
    torch::Tensor adversarial = ctx.attack->perturb(ctx.model, x, y);
    ctx.model.train();
    return adversarial;
  }

 private:
  bool attack_in_eval_mode_;
};

void register_pgd_at(armor::Registry& registry) {
  registry.add_trainer("pgd_at", "PGD adversarial training (Madry et al.): loss on adversarial images only",
                       armor::epoch_trainer_params().string(
                           "attack_mode", "train", "Model mode while crafting the training attack", {"train", "eval"}),
                       [](const armor::Params& params) { return std::make_shared<PgdAtTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("pgd_at", "1.0", register_pgd_at)
