#include "armor/train/epoch_trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <sstream>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/data/batch_loader.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/train/balancing_term.h"
#include "armor/train/checkpoint_identity.h"
#include "armor/train/lr_schedule.h"
#include "armor/train/metric_sink.h"
#include "armor/train/state_dict.h"
#include "armor/util/progress.h"

namespace armor {

ParamSchema epoch_trainer_params() {
  return ParamSchema()
      .integer("epochs", 10, "Passes over the training data", 0)
      .integer("batch_size", 128, "Training batch size", 1)
      .string("optimizer", "sgd", "Optimiser", {"sgd", "adam"})
      .real("lr", 0.05, "Learning rate (the peak of the schedule)", 0)
      .real("momentum", 0.9, "SGD momentum", 0, 1)
      .boolean("nesterov", true, "Nesterov momentum (SGD)")
      .real("weight_decay", 5e-4, "L2 weight decay", 0)
      .extend(lr_schedule_params());
}

ParamSchema adversarial_trainer_params() {
  return epoch_trainer_params().string("attack_mode", "train", "Model mode while crafting the training attack",
                                       {"train", "eval"});
}

struct EpochTrainer::EpochTotals {
  double loss = 0, aux = 0, correct = 0, seen = 0, lr = 0;
  std::int64_t batches = 0;
};

EpochTrainer::EpochTrainer(const Params& params)
    : params_(params), epochs_(params.integer("epochs")), batch_size_(params.integer("batch_size")) {}

EpochTrainer::~EpochTrainer() = default;

namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const Params& params, std::vector<torch::Tensor> parameters) {
  const double lr = params.real("lr");
  const double weight_decay = params.real("weight_decay");
  if (params.string("optimizer") == "adam") {
    return std::make_unique<torch::optim::Adam>(parameters, torch::optim::AdamOptions(lr).weight_decay(weight_decay));
  }
  const double momentum = params.real("momentum");
  return std::make_unique<torch::optim::SGD>(parameters, torch::optim::SGDOptions(lr)
                                                             .momentum(momentum)
                                                             .nesterov(params.boolean("nesterov") && momentum > 0)
                                                             .weight_decay(weight_decay));
}

void set_lr(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

// The default generators are shared objects (copies share the state): lock while reading or writing.
torch::Tensor generator_state(at::Generator generator) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void set_generator_state(at::Generator generator, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state.cpu());
}

// The last epoch's metrics, as two entries: the keys joined by newlines and their values.
void write_epoch_metrics(torch::serialize::OutputArchive& archive, const MetricValues& values) {
  std::string keys;
  std::vector<double> numbers;
  for (const auto& [key, value] : values) {
    keys += (keys.empty() ? "" : "\n") + key;
    numbers.push_back(value);
  }
  archive.write("epoch_metric_keys", c10::IValue(keys));
  archive.write("epoch_metric_values", torch::tensor(numbers, torch::kFloat64));
}

// Empty for a checkpoint written before epoch metrics were kept in it.
MetricValues read_epoch_metrics(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue keys;
  torch::Tensor numbers;
  if (!archive.try_read("epoch_metric_keys", keys) || !archive.try_read("epoch_metric_values", numbers)) return {};
  std::vector<std::string> names;
  std::stringstream lines(keys.toStringRef());
  for (std::string name; std::getline(lines, name);) names.push_back(name);
  numbers = numbers.to(torch::kCPU, torch::kFloat64).contiguous();
  if (static_cast<std::int64_t>(names.size()) != numbers.numel()) {
    throw RunError(fmt::format("checkpoint {} holds {} epoch metric names and {} values", path, names.size(),
                               numbers.numel()));
  }
  MetricValues values;
  for (std::size_t i = 0; i < names.size(); ++i)
    values.emplace_back(names[i], numbers[static_cast<std::int64_t>(i)].item<double>());
  return values;
}

std::string optimizer_key(std::size_t index) { return index == 0 ? "optimizer" : "optimizer_" + std::to_string(index); }

struct ValidationScore {
  double loss = 0;
  double accuracy = 0;
};

ValidationScore validate(Classifier& model, const LabelledImages& data, std::int64_t batch_size, torch::Device device) {
  model.eval();
  BatchLoader loader(data, batch_size, device);
  double loss = 0, correct = 0;
  {
    c10::InferenceMode inference;  // the next training forward replaces every routing state made here
    while (auto batch = loader.next()) {
      const torch::Tensor logits = model.forward(batch->x);
      loss += torch::nn::functional::cross_entropy(
                  logits, batch->y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                  .item<double>();
      correct += logits.argmax(1).eq(batch->y).sum().item<double>();
    }
  }
  model.train();
  const auto n = static_cast<double>(std::max<std::int64_t>(1, data.size()));
  return {loss / n, correct / n};
}

}  // namespace

std::vector<std::vector<torch::Tensor>> EpochTrainer::parameter_groups(TrainContext& ctx) {
  return {ctx.model.parameters()};
}

torch::Tensor EpochTrainer::while_crafting(TrainContext& ctx, const std::function<torch::Tensor()>& craft) {
  if (params_.string("attack_mode") == "eval") ctx.model.eval();
  torch::Tensor crafted = craft();
  ctx.model.train();
  return crafted;
}

ThreatBall EpochTrainer::threat_ball(const TrainContext& ctx, const std::string& trainer) {
  if (ctx.attack == nullptr)
    throw RunError("trainer " + trainer + " needs an [attack] section: its eps is the threat model");
  const std::optional<ThreatBall> ball = ctx.attack->threat_ball();
  if (!ball) {
    throw RunError("trainer " + trainer + " takes eps from [attack], but attack '" + ctx.attack->describe() +
                   "' has no Lp ball (use pgd, fgsm or apgd)");
  }
  return *ball;
}

void EpochTrainer::fit(TrainContext& ctx) {
  BatchLoaderOptions loader_options;
  loader_options.batch_size = batch_size_;
  loader_options.shuffle = true;
  loader_options.seed = ctx.seed;
  loader_options.device = ctx.device;
  loader_options.augmentation = ctx.augmentation;
  BatchLoader loader(ctx.train_data, loader_options);
  optimizers_.clear();
  for (auto& group : parameter_groups(ctx)) optimizers_.push_back(make_optimizer(params_, std::move(group)));
  schedule_ = std::make_unique<LrSchedule>(params_, epochs_, loader.num_batches());
  step_ = 0;
  std::int64_t first_epoch = 0;
  if (ctx.checkpoint.resume && !ctx.checkpoint.path.empty() && std::filesystem::exists(ctx.checkpoint.path)) {
    MetricValues checkpointed;
    first_epoch = load_checkpoint(ctx, checkpointed);
    fmt::print("resumed from {} after epoch {}\n", ctx.checkpoint.path, first_epoch);
    // A checkpoint from before epoch metrics were kept in it has none to replay.
    if (first_epoch > 0 && !checkpointed.empty() &&
        !ctx.metrics.epoch_resumed(static_cast<int>(first_epoch), checkpointed)) {
      fmt::print("stopped after epoch {} (decided before the interruption)\n", first_epoch);
      return;
    }
  }
  for (std::int64_t epoch = first_epoch; epoch < epochs_; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    EpochTotals totals;
    train_epoch(ctx, loader, epoch, totals);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double seen = std::max(totals.seen, 1.0);
    MetricValues values{{"train_loss", totals.loss / seen},
                        {"train_acc", totals.correct / seen},
                        {"balancing_loss", totals.aux / seen},
                        {"lr", totals.lr},
                        {"seconds", seconds},
                        {"images_per_second", totals.seen / std::max(seconds, 1e-9)}};
    const bool last = epoch + 1 == epochs_;
    if (ctx.validation != nullptr && ctx.validation->size() > 0 &&
        (last || (ctx.validation_every > 0 && (epoch + 1) % ctx.validation_every == 0))) {
      const ValidationScore score = validate(ctx.model, *ctx.validation, ctx.validation_batch_size, ctx.device);
      values.emplace_back("val_loss", score.loss);
      values.emplace_back("val_acc", score.accuracy);
      fmt::print("epoch {}/{}: validation loss {:.4f} acc {:.4f}\n", epoch + 1, epochs_, score.loss, score.accuracy);
    }
    // The checkpoint comes first and carries the epoch's metrics: once they are in runs.db its state
    // is on disk, and a kill before they are recorded leaves them for the resume to record.
    const bool checkpointed = !ctx.checkpoint.path.empty() &&
                              (last || (ctx.checkpoint.every > 0 && (epoch + 1) % ctx.checkpoint.every == 0));
    if (checkpointed) save_checkpoint(ctx, epoch + 1, values);
    if (!ctx.metrics.epoch_end(static_cast<int>(epoch + 1), values)) {
      // Kept on disk, so that a resume finds the stop instead of training on from an older state.
      if (!checkpointed && !ctx.checkpoint.path.empty()) save_checkpoint(ctx, epoch + 1, values);
      fmt::print("stopped after epoch {}\n", epoch + 1);
      break;
    }
  }
}

void EpochTrainer::train_epoch(TrainContext& ctx, BatchLoader& loader, std::int64_t epoch, EpochTotals& totals) {
  ctx.model.train();
  loader.start_epoch(epoch);
  Progress progress(fmt::format("epoch {}/{}", epoch + 1, epochs_), loader.num_batches());
  const auto start = std::chrono::steady_clock::now();
  while (auto batch = loader.next()) {
    totals.lr = schedule_->at(step_);
    for (auto& optimizer : optimizers_) set_lr(*optimizer, totals.lr);
    for (replay_ = 0; replay_ < replays(); ++replay_) {
      // Gradients set to none, not zeroed: an expert that gets no images in this batch then has no
      // gradient, and the optimiser skips it (no weight decay, no momentum step). Zeroed gradients
      // would make that step depend on whether the expert ever had a gradient in this process, so a
      // resumed run would drift from an uninterrupted one. (PyTorch's zero_grad default since 2.0.)
      ctx.model.zero_grad(/*set_to_none=*/true);
      const StepLoss step = step_loss(ctx, batch->x, batch->y);
      const torch::Tensor aux_loss = ctx.balancing.compute(balancing_target(ctx, replay_));
      const torch::Tensor loss = step.loss + aux_loss;
      const double loss_value = loss.item<double>();
      if (!std::isfinite(loss_value)) {
        throw DivergedError(fmt::format("non-finite training loss ({}) at epoch {}, batch {}", loss_value, epoch + 1,
                                        totals.batches + 1));
      }
      loss.backward();
      after_backward(ctx);
      optimizers_.at(group_of_replay(replay_))->step();
      const auto n = static_cast<double>(batch->y.size(0));
      totals.loss += step.loss.item<double>() * n;
      totals.aux += aux_loss.item<double>() * n;
      totals.correct += step.logits.argmax(1).eq(batch->y).sum().item<double>();
      totals.seen += n;
    }
    ++totals.batches;
    ++step_;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    progress.update(totals.batches, fmt::format("loss {:.4f} acc {:.3f} {:.0f} img/s", totals.loss / totals.seen,
                                                totals.correct / totals.seen, totals.seen / std::max(seconds, 1e-9)));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double seen = std::max(totals.seen, 1.0);
  progress.finish(fmt::format("loss {:.4f} acc {:.3f} {:.0f} img/s", totals.loss / seen, totals.correct / seen,
                              totals.seen / std::max(seconds, 1e-9)));
}

// The checkpoint: one LibTorch archive, written to a temporary file and renamed over the old one,
// so a kill while saving leaves the previous checkpoint whole.
void EpochTrainer::save_checkpoint(const TrainContext& ctx, std::int64_t epochs_done,
                                   const MetricValues& epoch_metrics) const {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive;
  ctx.model.save(model_archive);
  archive.write("model", model_archive);
  for (std::size_t i = 0; i < optimizers_.size(); ++i) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizers_[i]->save(optimizer_archive);
    archive.write(optimizer_key(i), optimizer_archive);
  }
  torch::serialize::OutputArchive trainer_archive;
  save_state(trainer_archive);
  archive.write("trainer", trainer_archive);
  archive.write("epochs_done", torch::tensor(epochs_done, torch::kInt64));
  archive.write("step", torch::tensor(step_, torch::kInt64));
  write_epoch_metrics(archive, epoch_metrics);
  archive.write("cpu_rng", generator_state(at::detail::getDefaultCPUGenerator()));
  if (ctx.device.is_cuda())
    archive.write("cuda_rng", generator_state(at::globalContext().defaultGenerator(ctx.device)));
  if (!ctx.checkpoint.run_uid.empty()) {
    write_checkpoint_identity(archive, {ctx.checkpoint.run_uid, ctx.checkpoint.config_hash, ctx.checkpoint.owner});
  }
  const std::filesystem::path path(ctx.checkpoint.path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  const std::string temporary = ctx.checkpoint.path + ".tmp";
  archive.save_to(temporary);
  ctx.metrics.checkpoint_written(temporary, ctx.checkpoint.path);
  std::filesystem::rename(temporary, path);
}

// A run continues only from its own state: the checkpoint must carry the run's uid and config hash.
void EpochTrainer::check_checkpoint_identity(const TrainContext& ctx) const {
  const CheckpointPlan& plan = ctx.checkpoint;
  if (plan.run_uid.empty()) return;
  const std::optional<CheckpointIdentity> identity = read_checkpoint_identity(plan.path);
  const std::string this_run = fmt::format("{} (uid {})", plan.owner.empty() ? "this run" : plan.owner, plan.run_uid);
  if (!identity) {
    throw IdentityError(
        fmt::format("checkpoint {} carries no run identity (an armor before identities wrote it, or "
                    "something else did): {} does not resume from it; move it away to start over",
                    plan.path, this_run));
  }
  if (identity->run_uid != plan.run_uid) {
    throw IdentityError(fmt::format("checkpoint {} belongs to {} (uid {}), not to {}: refused", plan.path,
                                    identity->owner.empty() ? "another run" : identity->owner, identity->run_uid,
                                    this_run));
  }
  if (identity->config_hash != plan.config_hash) {
    throw IdentityError(fmt::format("checkpoint {} of {} was trained under config {}, the run's config is {}: refused",
                                    plan.path, this_run, identity->config_hash, plan.config_hash));
  }
}

std::int64_t EpochTrainer::load_checkpoint(TrainContext& ctx, MetricValues& epoch_metrics) {
  const std::string& path = ctx.checkpoint.path;
  check_checkpoint_identity(ctx);
  torch::serialize::InputArchive archive;
  torch::Tensor epochs_done, step, rng, cuda_rng;
  try {
    archive.load_from(path, ctx.device);
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    load_module_strict(ctx.model, model_archive, "checkpoint " + path);
    for (std::size_t i = 0; i < optimizers_.size(); ++i) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read(optimizer_key(i), optimizer_archive);
      optimizers_[i]->load(optimizer_archive);
    }
    torch::serialize::InputArchive trainer_archive;
    archive.read("trainer", trainer_archive);
    load_state(trainer_archive);
    archive.read("epochs_done", epochs_done);
    archive.read("step", step);
    epoch_metrics = read_epoch_metrics(archive, path);
    archive.read("cpu_rng", rng);
    if (ctx.device.is_cuda()) archive.try_read("cuda_rng", cuda_rng);  // absent in a CPU checkpoint
  } catch (const c10::Error& error) {
    throw RunError(fmt::format("checkpoint {} does not fit this run (another model or trainer?): {}", path,
                               error.what_without_backtrace()));
  }
  set_generator_state(at::detail::getDefaultCPUGenerator(), rng);
  if (cuda_rng.defined()) set_generator_state(at::globalContext().defaultGenerator(ctx.device), cuda_rng);
  step_ = step.item<std::int64_t>();
  const std::int64_t done = epochs_done.item<std::int64_t>();
  if (done > epochs_) {
    throw RunError(fmt::format("checkpoint {} is after epoch {}, past this run's {} epochs", path, done, epochs_));
  }
  return done;
}

}  // namespace armor
