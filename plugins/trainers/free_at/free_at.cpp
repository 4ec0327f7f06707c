// trainer/free_at: "Adversarial training for free!" (Shafahi et al. 2019): each batch is replayed
// `replays` times; every replay's one backward pass gives both the weight gradient (one optimiser
// step) and the input gradient, which moves a perturbation kept across batches and epochs:
//   delta <- clip_[-eps,eps](delta + step_ratio x eps x sign(grad_x CE(f(clip01(x + delta)), y)))
// eps from [attack] (L-infinity). The crafting is the training forward itself, so it runs in
// training mode. Keep total work equal to standard training with epochs / replays.

#include <torch/torch.h>

#include "armor/attack/threat_model.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"

namespace {

class FreeAtTrainer : public armor::EpochTrainer {
 public:
  explicit FreeAtTrainer(const armor::Params& params)
      : EpochTrainer(params), replays_(params.integer("replays")), step_ratio_(params.real("step_ratio")) {}

 protected:
  std::int64_t replays() const override { return replays_; }

  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    ball_ = threat_ball(ctx, "free_at");
    if (ball_.norm != armor::Norm::linf) throw armor::RunError("trainer free_at supports an L-infinity [attack] only");
    // delta [B_max,C,H,W], sized by the first (full) batch; a smaller last batch uses its head.
    if (!delta_.defined() || delta_.size(0) < x.size(0) || delta_.sizes().slice(1) != x.sizes().slice(1)) {
      delta_ = torch::zeros_like(x);
    }
    input_ = (x + delta_.narrow(0, 0, x.size(0))).clamp(0.0, 1.0).detach().requires_grad_(true);
    const torch::Tensor logits = ctx.model.forward(input_);
    return {torch::nn::functional::cross_entropy(logits, y), logits};
  }

  void after_backward(armor::TrainContext&) override {
    torch::NoGradGuard no_grad;
    torch::Tensor head = delta_.narrow(0, 0, input_.size(0));
    head.add_(input_.grad().sign(), step_ratio_ * ball_.eps).clamp_(-ball_.eps, ball_.eps);
  }

  void save_state(torch::serialize::OutputArchive& archive) const override {
    archive.write("delta", delta_.defined() ? delta_ : torch::zeros({0}));
  }
  void load_state(torch::serialize::InputArchive& archive) override {
    torch::Tensor delta;
    archive.read("delta", delta);
    delta_ = delta.numel() > 0 ? delta : torch::Tensor();
  }

 private:
  std::int64_t replays_;
  double step_ratio_;
  armor::ThreatBall ball_;
  torch::Tensor delta_;
  torch::Tensor input_;
};

void register_free_at(armor::Registry& registry) {
  registry.add_trainer("free_at",
                       "Free adversarial training (Shafahi et al. 2019): m replays per batch at [attack]'s eps",
                       armor::epoch_trainer_params()
                           .integer("replays", 8, "Replays of each batch (m)", 1)
                           .real("step_ratio", 1.0, "Perturbation step as a multiple of eps", 0),
                       [](const armor::Params& params) { return std::make_shared<FreeAtTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("free_at", "1.0", register_free_at)
