// trainer/standard: empirical risk minimisation on clean images (+ the balancing term).

#include <torch/torch.h>

#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "armor/train/epoch_trainer.h"

namespace {

class StandardTrainer : public armor::EpochTrainer {
 public:
  using EpochTrainer::EpochTrainer;

 protected:
  armor::StepLoss step_loss(armor::TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) override {
    const torch::Tensor logits = ctx.model.forward(x);
    return {torch::nn::functional::cross_entropy(logits, y), logits};
  }
};

void register_standard(armor::Registry& registry) {
  registry.add_trainer("standard", "Standard training on clean images", armor::epoch_trainer_params(),
                       [](const armor::Params& params) { return std::make_shared<StandardTrainer>(params); });
}

}  // namespace

ARMOR_PLUGIN("standard", "1.0", register_standard)
