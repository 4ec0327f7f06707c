#pragma once
// EpochTrainer: the mini-batch loop shared by trainers that differ only in what images the loss
// is taken on (clean for `standard`, adversarial for `pgd_at`). It owns the optimiser and schedule,
// adds the balancing term once per step, reports progress and per-epoch metrics, and stops the run
// on a non-finite loss.
//
// Parameters (see epoch_trainer_params()): epochs, batch_size, optimizer (sgd|adam), lr, momentum,
// nesterov, weight_decay, schedule (constant|cosine).

#include <string>

#include <torch/types.h>

#include "armor/config/param_schema.h"
#include "armor/config/params.h"
#include "armor/train/trainer.h"

namespace armor {

ParamSchema epoch_trainer_params();

class EpochTrainer : public Trainer {
 public:
  explicit EpochTrainer(const Params& params);
  void fit(TrainContext& ctx) override;

 protected:
  // The images the loss of this step is taken on. x [B,C,H,W] in [0,1], y [B] -> [B,C,H,W].
  virtual torch::Tensor training_input(TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) = 0;

 private:
  std::int64_t epochs_;
  std::int64_t batch_size_;
  std::string optimizer_;
  double lr_;
  double momentum_;
  bool nesterov_;
  double weight_decay_;
  std::string schedule_;
};

}  // namespace armor
