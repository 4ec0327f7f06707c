#pragma once
// EpochTrainer: the mini-batch loop every built-in trainer shares. A trainer says only what the
// loss of a step is (clean for `standard`, adversarial for `pgd_at`, TRADES' for `trades`, ...);
// the loop owns the optimiser and the learning-rate schedule, adds the balancing term once per
// step (on the routing of the step's last forward pass through balancing_target()), reports
// progress and per-epoch metrics, evaluates the validation split, saves checkpoints and resumes
// from them, and stops the run on a non-finite loss.
//
// Parameters (epoch_trainer_params()): epochs, batch_size, optimizer (sgd|adam), lr, momentum,
// nesterov, weight_decay and the schedule's (see lr_schedule.h). Adversarial trainers add
// attack_mode (adversarial_trainer_params()).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/params/param_schema.h"
#include "armor/params/params.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"

namespace torch::optim {
class Optimizer;
}

namespace armor {

class BatchLoader;
class LrSchedule;

ParamSchema epoch_trainer_params();
// epoch_trainer_params() + attack_mode: the model's mode while a training attack is crafted
// ("train": BatchNorm uses and updates batch statistics, as Madry et al.; "eval": running
// statistics, dropout off). The model is always back in training mode for the weight update.
ParamSchema adversarial_trainer_params();

struct StepLoss {
  torch::Tensor loss;    // scalar task loss (the loop adds the balancing term)
  torch::Tensor logits;  // [B,K]: the logits whose accuracy is reported as train_acc
};

class EpochTrainer : public Trainer {
 public:
  explicit EpochTrainer(const Params& params);
  ~EpochTrainer() override;
  void fit(TrainContext& ctx) override;

 protected:
  // The loss of one step on x [B,C,H,W] in [0,1], y [B]; the model is in training mode.
  virtual StepLoss step_loss(TrainContext& ctx, const torch::Tensor& x, const torch::Tensor& y) = 0;
  // Optimiser steps taken on each batch (free_at replays each batch m times; jtdmoe takes a robust
  // and a standard step). replay() is the current one, 0-based.
  virtual std::int64_t replays() const { return 1; }
  std::int64_t replay() const noexcept { return replay_; }
  // The parameter groups that get an optimiser each (same settings, same schedule); default: one
  // group, every parameter of the model. jtdmoe optimises F_R and F_S separately.
  virtual std::vector<std::vector<torch::Tensor>> parameter_groups(TrainContext& ctx);
  // Which group's optimiser steps after replay `replay`; only that group's parameters move (all
  // gradients are zeroed before every replay).
  virtual std::size_t group_of_replay(std::int64_t /*replay*/) const { return 0; }
  // The module whose MoE layers the balancing term of replay `replay` reads (default: the whole
  // model). A trainer that updates one part of the model per replay names that part, so each step's
  // balancing term reads only routing computed in that step's graph, of the member being updated
  // (jtdmoe: F_R in its robust step, F_S in its standard step).
  virtual Classifier& balancing_target(TrainContext& ctx, std::int64_t /*replay*/) { return ctx.model; }
  // After each backward pass, before the optimiser step (free_at reads its input gradient here).
  virtual void after_backward(TrainContext&) {}
  // Trainer state a checkpoint must carry besides the model, optimiser, schedule and RNG.
  virtual void save_state(torch::serialize::OutputArchive&) const {}
  virtual void load_state(torch::serialize::InputArchive&) {}

  // Runs `craft` with the model in the configured attack_mode, then puts it back in training mode.
  torch::Tensor while_crafting(TrainContext& ctx, const std::function<torch::Tensor()>& craft);

  // The threat model of the experiment's [attack], for trainers that craft their own perturbations;
  // RunError naming `trainer` when there is no [attack] or it has no Lp ball.
  static ThreatBall threat_ball(const TrainContext& ctx, const std::string& trainer);

  const Params& params() const noexcept { return params_; }

 private:
  struct EpochTotals;
  void train_epoch(TrainContext& ctx, BatchLoader& loader, std::int64_t epoch, EpochTotals& totals);
  void save_checkpoint(const TrainContext& ctx, std::int64_t epochs_done, const MetricValues& epoch_metrics) const;
  std::int64_t load_checkpoint(TrainContext& ctx, MetricValues& epoch_metrics);  // -> epochs already done
  void check_checkpoint_identity(const TrainContext& ctx) const;

  Params params_;
  std::int64_t epochs_;
  std::int64_t batch_size_;
  std::vector<std::unique_ptr<torch::optim::Optimizer>> optimizers_;
  std::int64_t replay_ = 0;
  std::unique_ptr<LrSchedule> schedule_;
  std::int64_t step_ = 0;
};

}  // namespace armor
