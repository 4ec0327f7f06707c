// trainer/rt_er: Robust Training with Expert Robustification (paper 1, ALGORITHMS.md §2) for an
// output-level MoE (model output_moe):
//   L = CE(F(x'), y) + beta/N * sum_e sum_{n in S_e} KL(softmax f_e(x_n) || softmax f_e(x''_n))
// x' = [attack] on the whole MoE, x'' = [attack] on each selected expert alone (one attack call per
// expert on its images), S_e from `selection`: second (the second-ranked expert, the paper's),
// top1 or all. beta = 0 is PGD-AT. Attacks run in attack_mode; the update in training mode.

#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/expert_ensemble.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"
#include "armor/train/rt_er_step.h"

namespace {

class RtErTrainer : public armor::EpochTrainer {
 public:
  explicit RtErTrainer(const armor::Params& params)
      : EpochTrainer(params),
        beta_(params.real("beta")),
        selection_(armor::expert_selection_from_string(params.string("selection"))) {}

 protected:
  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    if (ctx.attack == nullptr) throw armor::RunError("trainer rt_er needs an [attack] section (PGD-10 in the paper)");
    armor::ExpertEnsemble* ensemble = ctx.model.expert_ensemble();
    if (ensemble == nullptr) {
      throw armor::RunError(
          "trainer rt_er needs an output-level MoE (model output_moe): this model has no experts to robustify");
    }
    const armor::CraftAttack craft = [&](armor::Classifier& target, const torch::Tensor& images,
                                         const torch::Tensor& labels) {
      return while_crafting(ctx, [&] { return ctx.attack->perturb(target, images, labels); });
    };
    armor::RtErStep step = armor::rt_er_step(*ensemble, craft, x, y, beta_, selection_);
    return {step.loss.total, step.moe_adv_logits};
  }

 private:
  double beta_;
  armor::ExpertSelection selection_;
};

void register_rt_er(armor::Registry& registry) {
  registry.add_trainer(
      "rt_er", "RT-ER (paper 1): PGD-AT of an output-level MoE + beta x KL robustifying the selected experts",
      armor::adversarial_trainer_params()
          .real("beta", 6.0, "Weight of the expert-robustification KL term (0 = PGD-AT)", 0)
          .string("selection", "second", "Experts that get the KL term: the second-ranked (paper), the top-1, or all",
                  {"second", "top1", "all"}),
      [](const armor::Params& params) { return std::make_shared<RtErTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("rt_er", "1.0", register_rt_er)
