#include "armor/train/epoch_trainer.h"

#include <chrono>
#include <cmath>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/data/batch_loader.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/util/progress.h"

namespace armor {

ParamSchema epoch_trainer_params() {
  return ParamSchema()
      .integer("epochs", 10, "Passes over the training data", 0)
      .integer("batch_size", 128, "Training batch size", 1)
      .string("optimizer", "sgd", "Optimiser", {"sgd", "adam"})
      .real("lr", 0.05, "Learning rate (peak, for schedules)", 0)
      .real("momentum", 0.9, "SGD momentum", 0, 1)
      .boolean("nesterov", true, "Nesterov momentum (SGD)")
      .real("weight_decay", 5e-4, "L2 weight decay", 0)
      .string("schedule", "cosine", "Learning-rate schedule per iteration", {"constant", "cosine"});
}

EpochTrainer::EpochTrainer(const Params& params)
    : epochs_(params.integer("epochs")),
      batch_size_(params.integer("batch_size")),
      optimizer_(params.string("optimizer")),
      lr_(params.real("lr")),
      momentum_(params.real("momentum")),
      nesterov_(params.boolean("nesterov")),
      weight_decay_(params.real("weight_decay")),
      schedule_(params.string("schedule")) {}

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name, std::vector<torch::Tensor> parameters,
                                                        double lr, double momentum, bool nesterov, double weight_decay) {
  if (name == "adam") {
    return std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(lr).weight_decay(weight_decay));
  }
  return std::make_unique<torch::optim::SGD>(
      parameters, torch::optim::SGDOptions(lr).momentum(momentum).nesterov(nesterov && momentum > 0).weight_decay(weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

}  // namespace

void EpochTrainer::fit(TrainContext& ctx) {
  BatchLoader loader(ctx.train_data, batch_size_, /*shuffle=*/true, ctx.seed, ctx.device);
  auto optimizer = make_optimizer(optimizer_, ctx.model.parameters(), lr_, momentum_, nesterov_, weight_decay_);
  const std::int64_t steps_per_epoch = loader.num_batches();
  const double total_steps = static_cast<double>(std::max<std::int64_t>(1, epochs_ * steps_per_epoch));
  std::int64_t step = 0;
  for (std::int64_t epoch = 0; epoch < epochs_; ++epoch) {
    ctx.model.train();
    loader.start_epoch(epoch);
    Progress progress(fmt::format("epoch {}/{}", epoch + 1, epochs_), steps_per_epoch);
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0, aux_sum = 0, correct = 0, seen = 0, lr = lr_;
    std::int64_t batches = 0;
    while (auto batch = loader.next()) {
      lr = schedule_ == "cosine" ? 0.5 * lr_ * (1.0 + std::cos(M_PI * static_cast<double>(step) / total_steps)) : lr_;
      set_lr(*optimizer, lr);
      const torch::Tensor input = training_input(ctx, batch->x, batch->y);
      optimizer->zero_grad();
      const torch::Tensor logits = ctx.model.forward(input);
      const torch::Tensor task_loss = torch::nn::functional::cross_entropy(logits, batch->y);
      const torch::Tensor aux_loss = ctx.balancing.compute(ctx.model);
      const torch::Tensor loss = task_loss + aux_loss;
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        throw DivergedError(fmt::format("non-finite training loss ({}) at epoch {}, batch {}", loss_value, epoch + 1, batches + 1));
      }
      loss.backward();
      optimizer->step();
      const auto n = static_cast<double>(batch->y.size(0));
      loss_sum += task_loss.item<double>() * n;
      aux_sum += aux_loss.item<double>() * n;
      correct += logits.argmax(1).eq(batch->y).sum().item<double>();
      seen += n;
      ++batches;
      ++step;
      progress.update(batches, fmt::format("loss {:.4f} acc {:.3f}", loss_sum / seen, correct / seen));
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double accuracy = seen > 0 ? correct / seen : 0.0;
    progress.finish(fmt::format("loss {:.4f} acc {:.3f} {:.0f} img/s", seen > 0 ? loss_sum / seen : 0.0, accuracy,
                                seen / std::max(seconds, 1e-9)));
    const bool go_on = ctx.metrics.epoch_end(static_cast<int>(epoch + 1), {{"train_loss", seen > 0 ? loss_sum / seen : 0.0},
                                                         {"train_acc", accuracy},
                                                         {"balancing_loss", seen > 0 ? aux_sum / seen : 0.0},
                                                         {"lr", lr},
                                                         {"seconds", seconds},
                                                         {"images_per_second", seen / std::max(seconds, 1e-9)}});
    if (!go_on) {
      fmt::print("stopped after epoch {} by the sweep's early stopping\n", epoch + 1);
      break;
    }
  }
}

}  // namespace armor
