// trainer/jtdmoe: joint training of the dual model F_D = (1 - alpha) F_S + alpha F_R (paper 1,
// ALGORITHMS.md §2; model dual_moe), per batch:
//   1. robust step (F_S frozen): RT-ER with selection `all` on F_R, [attack] against F_R and its experts
//   2. standard step (F_R frozen): CE(F_D(x), y) on clean images, F_R's logits detached
// Each member has its own optimiser (same settings and schedule), and every gradient is zeroed
// before each step (the released code does not), so step 1 moves only F_R and step 2 only F_S. F_R
// runs in eval mode in step 2, so nothing of it changes there, not even BatchNorm statistics. Each
// step adds the balancing losses of the member it trains only.
// alpha is the dual model's; `phases` trains both (default) or one member alone.

#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/dual_model.h"
#include "armor/nn/expert_ensemble.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"
#include "armor/train/rt_er_step.h"

namespace {

class JtdMoeTrainer : public armor::EpochTrainer {
 public:
  explicit JtdMoeTrainer(const armor::Params& params)
      : EpochTrainer(params), beta_(params.real("beta")), phases_(params.string("phases")) {}

 protected:
  std::int64_t replays() const override { return phases_ == "both" ? 2 : 1; }

  // Group 0: F_R's parameters; group 1: F_S's.
  std::vector<std::vector<torch::Tensor>> parameter_groups(armor::TrainContext& ctx) override {
    armor::DualModel& dual = dual_model(ctx);
    return {dual.robust().parameters(), dual.standard().parameters()};
  }
  std::size_t group_of_replay(std::int64_t replay) const override { return robust_phase(replay) ? 0 : 1; }
  // The balancing term of a step reads the MoE layers of the member that step trains, whose routing
  // the step computed in its own graph: F_R's in the robust step, F_S's in the standard step (F_R's
  // routing there comes from a no-grad pass, F_S's in the robust step from the previous batch).
  armor::Classifier& balancing_target(armor::TrainContext& ctx, std::int64_t replay) override {
    armor::DualModel& dual = dual_model(ctx);
    return robust_phase(replay) ? dual.robust() : dual.standard();
  }

  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    armor::DualModel& dual = dual_model(ctx);
    if (robust_phase(replay())) return robust_step(ctx, dual, x, y);
    return standard_step(dual, x, y);
  }

 private:
  bool robust_phase(std::int64_t replay) const { return phases_ == "robust" || (phases_ == "both" && replay == 0); }

  static armor::DualModel& dual_model(armor::TrainContext& ctx) {
    armor::DualModel* dual = ctx.model.dual_model();
    if (dual == nullptr) throw armor::RunError("trainer jtdmoe needs a dual model (model dual_moe)");
    return *dual;
  }

  armor::StepLoss robust_step(armor::TrainContext& ctx, armor::DualModel& dual, const torch::Tensor& x,
                              const torch::Tensor& y) {
    if (ctx.attack == nullptr) throw armor::RunError("trainer jtdmoe needs an [attack] section (PGD-10 in the paper)");
    armor::ExpertEnsemble* robust = dual.robust().expert_ensemble();
    if (robust == nullptr) throw armor::RunError("trainer jtdmoe needs F_R to be an output-level MoE");
    const armor::CraftAttack craft = [&](armor::Classifier& target, const torch::Tensor& images,
                                         const torch::Tensor& labels) {
      return while_crafting(ctx, [&] { return ctx.attack->perturb(target, images, labels); });
    };
    armor::RtErStep step = armor::rt_er_step(*robust, craft, x, y, beta_, armor::ExpertSelection::all);
    return {step.loss.total, step.moe_adv_logits};
  }

  armor::StepLoss standard_step(armor::DualModel& dual, const torch::Tensor& x, const torch::Tensor& y) {
    torch::Tensor robust_logits;
    {
      torch::NoGradGuard no_grad;
      dual.robust().eval();
      robust_logits = dual.robust().forward(x);
      dual.robust().train();
    }
    const torch::Tensor standard_logits = dual.standard().forward(x);
    const torch::Tensor loss = armor::jtdmoe_standard_loss(standard_logits, robust_logits, y, dual.alpha());
    return {loss, armor::dual_logits(standard_logits.detach(), robust_logits, dual.alpha())};
  }

  double beta_;
  std::string phases_;
};

void register_jtdmoe(armor::Registry& registry) {
  registry.add_trainer(
      "jtdmoe", "JTDMoE (paper 1): alternating RT-ER steps on F_R and clean steps on the dual model for F_S",
      armor::adversarial_trainer_params()
          .real("beta", 6.0, "Weight of the expert KL term of the robust step", 0)
          .string("phases", "both", "Train both members (robust then standard step per batch) or one alone",
                  {"both", "robust", "standard"}),
      [](const armor::Params& params) { return std::make_shared<JtdMoeTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("jtdmoe", "1.0", register_jtdmoe)
