// The shipped trainers (standard, pgd_at, trades, fast_at, free_at), loaded as the host loads them:
// each lowers the loss of an easy synthetic task in a few batches, keeps the model's mode right for
// the weight update, and a run stopped after epoch 1 and resumed from its checkpoint ends with the
// same weights as one trained straight through.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../../plugins/model_test_support.h"
#include "armor/attack/attack.h"
#include "armor/data/builtin_datasets.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/state_dict.h"
#include "armor/train/trainer.h"

namespace {

using armor::PluginKind;
using armor_test::Changes;

using armor_test::plugin_registry;

armor::Params params(PluginKind kind, const std::string& name, const Changes& changes = {}) {
  return armor_test::plugin_params(kind, name, changes);
}

std::shared_ptr<armor::DatasetSplits> synthetic_data(const Changes& changes) {
  armor::Registry builtin;
  armor::register_builtin_datasets(builtin);
  armor::Params data("data");
  for (const auto& spec : builtin.info(PluginKind::dataset, "synthetic").params.specs())
    data.set(spec.name, spec.default_value, "default");
  for (const auto& [key, value] : changes) data.set(key, value, "test");
  return builtin.dataset("synthetic")(data);
}

// A small MLP with BatchNorm; records, for every forward pass, whether it ran in training mode and
// whether its parameters took gradients (an attack freezes them; the weight update does not).
struct TinyNet : armor::Classifier {
  struct Call {
    bool training;
    bool parameters_train;
  };
  explicit TinyNet(std::int64_t pixels, std::int64_t classes)
      : hidden(register_module("hidden", torch::nn::Linear(pixels, 32))),
        norm(register_module("norm", torch::nn::BatchNorm1d(32))),
        out(register_module("out", torch::nn::Linear(32, classes))) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    calls.push_back({is_training(), hidden->weight.requires_grad() && torch::GradMode::is_enabled()});
    return out(torch::relu(norm(hidden(x.flatten(1)))));
  }
  torch::nn::Linear hidden;
  torch::nn::BatchNorm1d norm;
  torch::nn::Linear out;
  std::vector<Call> calls;
};

// Stops training after `stop_after` epochs (0 = never), as a sweep's early stopping would; with
// `kill_at`, throws from that epoch's report, as a kill between its checkpoint and its record.
struct StoppingSink : armor::MetricSink {
  explicit StoppingSink(int stop_after = 0, int kill_at = 0) : stop_after(stop_after), kill_at(kill_at) {}
  bool epoch_end(int epoch, const armor::MetricValues& values) override {
    if (epoch == kill_at) throw std::runtime_error("killed before epoch " + std::to_string(epoch) + " was recorded");
    epochs.push_back({epoch, values});
    return goes_on(epoch);
  }
  bool epoch_resumed(int epoch, const armor::MetricValues& values) override {
    resumed.push_back({epoch, values});
    return goes_on(epoch);
  }
  bool goes_on(int epoch) const { return stop_after == 0 || epoch < stop_after; }
  int stop_after;
  int kill_at;
  std::vector<std::pair<int, armor::MetricValues>> epochs;
  std::vector<std::pair<int, armor::MetricValues>> resumed;  // what the checkpoints gave back
};

double metric(const armor::MetricValues& values, const std::string& key) {
  for (const auto& [name, value] : values) {
    if (name == key) return value;
  }
  ADD_FAILURE() << "no epoch metric " << key;
  return 0;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = synthetic_data({{"train_size", std::int64_t{256}},
                            {"test_size", std::int64_t{64}},
                            {"image_size", std::int64_t{8}},
                            {"num_classes", std::int64_t{4}}});
    attack_ = plugin_registry().attack("pgd")(
        params(PluginKind::attack, "pgd", {{"eps", 0.05}, {"steps", std::int64_t{3}}, {"step_size", 0.02}}));
    folder_ = std::filesystem::temp_directory_path() / ("armor_trainer_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  std::shared_ptr<TinyNet> model(std::uint64_t seed) {
    torch::manual_seed(seed);
    return std::make_shared<TinyNet>(64, 4);
  }

  double clean_loss(TinyNet& net) {
    torch::NoGradGuard no_grad;
    net.eval();
    const torch::Tensor x = data_->train.images.to(torch::kFloat32).div(255.0);
    const double loss = torch::nn::functional::cross_entropy(net.forward(x), data_->train.labels).item<double>();
    net.train();
    return loss;
  }

  // Trains `net` with trainer `name` (seeded), returning the sink.
  StoppingSink fit(TinyNet& net, const std::string& name, const Changes& changes, armor::CheckpointPlan checkpoint = {},
                   int stop_after = 0, int kill_at = 0) {
    Changes all{{"epochs", std::int64_t{3}}, {"batch_size", std::int64_t{32}}, {"lr", 0.05}};
    all.insert(all.end(), changes.begin(), changes.end());
    auto trainer = plugin_registry().trainer(name)(params(PluginKind::trainer, name, all));
    StoppingSink sink(stop_after, kill_at);
    armor::TrainContext context{net, data_->train, torch::kCPU, attack_.get(), balancing_, sink, /*seed=*/7};
    context.checkpoint = std::move(checkpoint);
    context.validation = &data_->test;
    torch::manual_seed(11);
    trainer->fit(context);
    return sink;
  }

  std::shared_ptr<armor::DatasetSplits> data_;
  std::shared_ptr<armor::Attack> attack_;
  armor::BalancingTerm balancing_;
  std::filesystem::path folder_;
};

class EveryTrainer : public TrainerTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(EveryTrainer, LowersTheLossOfAnEasyTaskAndRecordsEpochMetrics) {
  auto net = model(1);
  const double before = clean_loss(*net);
  const Changes changes = GetParam() == "free_at" ? Changes{{"replays", std::int64_t{2}}} : Changes{};
  const StoppingSink sink = fit(*net, GetParam(), changes);
  const double after = clean_loss(*net);
  EXPECT_LT(after, 0.6 * before) << GetParam() << ": loss " << before << " -> " << after;
  ASSERT_EQ(sink.epochs.size(), 3u);
  std::set<std::string> keys;
  for (const auto& [key, value] : sink.epochs.back().second) keys.insert(key);
  for (const char* key :
       {"train_loss", "train_acc", "lr", "seconds", "images_per_second", "balancing_loss", "val_loss", "val_acc"}) {
    EXPECT_TRUE(keys.count(key)) << GetParam() << " records no " << key;
  }
}

TEST_P(EveryTrainer, UpdatesWeightsOnlyFromForwardPassesInTrainingMode) {
  auto net = model(1);
  fit(*net, GetParam(),
      GetParam() == "free_at" ? Changes{{"replays", std::int64_t{2}}} : Changes{{"epochs", std::int64_t{1}}});
  std::size_t updates = 0;
  for (const TinyNet::Call& call : net->calls) {
    if (call.parameters_train) {
      ++updates;
      EXPECT_TRUE(call.training) << GetParam() << ": a forward pass with trainable weights ran in eval mode";
    }
  }
  EXPECT_GT(updates, 0u);
  EXPECT_TRUE(net->is_training());
}

INSTANTIATE_TEST_SUITE_P(Trainers, EveryTrainer,
                         ::testing::Values("standard", "pgd_at", "trades", "fast_at", "free_at"));

TEST_F(TrainerTest, AttackModeEvalCraftsInEvalModeAndUpdatesInTrainingMode) {
  for (const std::string name : {"pgd_at", "fast_at", "trades"}) {
    auto net = model(1);
    fit(*net, name, {{"epochs", std::int64_t{1}}, {"attack_mode", std::string("eval")}});
    std::size_t crafting = 0;
    for (const TinyNet::Call& call : net->calls) {
      if (call.parameters_train) {
        EXPECT_TRUE(call.training) << name;
      } else if (call.training) {
        ADD_FAILURE() << name << ": a crafting forward pass ran in training mode with attack_mode = eval";
      } else {
        ++crafting;
      }
    }
    EXPECT_GT(crafting, 0u) << name;
    EXPECT_TRUE(net->is_training()) << name;
  }
}

TEST_F(TrainerTest, AResumedRunEndsWithTheWeightsOfAnUninterruptedOne) {
  for (const std::string name : {"pgd_at", "free_at"}) {
    const Changes changes = name == "free_at" ? Changes{{"replays", std::int64_t{2}}} : Changes{};
    auto straight = model(1);
    fit(*straight, name, changes, {(folder_ / (name + "_straight.pt")).string(), 1, true});

    const std::string path = (folder_ / (name + "_killed.pt")).string();
    auto killed = model(1);
    const StoppingSink first = fit(*killed, name, changes, {path, 1, true}, /*stop_after=*/1);
    ASSERT_EQ(first.epochs.size(), 1u);
    auto resumed = model(99);  // other initial weights: everything must come from the checkpoint
    const StoppingSink rest = fit(*resumed, name, changes, {path, 1, true});
    ASSERT_EQ(rest.epochs.size(), 2u) << name << ": the resumed run trains epochs 2 and 3 only";
    EXPECT_EQ(rest.epochs.front().first, 2);
    ASSERT_EQ(rest.resumed.size(), 1u) << name << ": the checkpoint gives back the epoch it was written after";
    EXPECT_EQ(rest.resumed.front().first, 1);
    EXPECT_EQ(rest.resumed.front().second, first.epochs.front().second) << name;

    const auto expected = straight->named_parameters();
    for (const auto& item : resumed->named_parameters()) {
      EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << name << ": " << item.key() << " differs";
    }
    EXPECT_TRUE(torch::equal(resumed->norm->running_mean, straight->norm->running_mean)) << name;
  }
}

// Killed after epoch 2's checkpoint was written but before its metrics were recorded: the resume
// starts at epoch 3 and reports epoch 2's metrics from the checkpoint, so no epoch goes unrecorded.
TEST_F(TrainerTest, AnEpochCheckpointedButNotRecordedBeforeAKillIsReportedOnResume) {
  auto straight = model(1);
  const StoppingSink whole = fit(*straight, "pgd_at", {}, {(folder_ / "straight.pt").string(), 1, true});
  ASSERT_EQ(whole.epochs.size(), 3u);

  const std::string path = (folder_ / "killed.pt").string();
  auto killed = model(1);
  EXPECT_THROW(fit(*killed, "pgd_at", {}, {path, 1, true}, /*stop_after=*/0, /*kill_at=*/2), std::runtime_error);
  auto resumed = model(99);
  const StoppingSink rest = fit(*resumed, "pgd_at", {}, {path, 1, true});
  ASSERT_EQ(rest.resumed.size(), 1u);
  EXPECT_EQ(rest.resumed.front().first, 2);
  for (const std::string key : {"train_loss", "train_acc", "lr"}) {
    EXPECT_EQ(metric(rest.resumed.front().second, key), metric(whole.epochs[1].second, key)) << key;
  }
  ASSERT_EQ(rest.epochs.size(), 1u);
  EXPECT_EQ(rest.epochs.front().first, 3);
}

// Stopped early after epoch 1 of a run that checkpoints every 2 epochs: the stop is checkpointed
// too, and a resume keeps the decision instead of training on (or over again) from an older state.
TEST_F(TrainerTest, ARunStoppedEarlyStaysStoppedWhenResumed) {
  const std::string path = (folder_ / "stopped.pt").string();
  auto stopped = model(1);
  const StoppingSink first = fit(*stopped, "pgd_at", {}, {path, 2, true}, /*stop_after=*/1);
  ASSERT_EQ(first.epochs.size(), 1u);
  auto resumed = model(99);
  const StoppingSink rest = fit(*resumed, "pgd_at", {}, {path, 2, true}, /*stop_after=*/1);
  EXPECT_TRUE(rest.epochs.empty()) << "the resumed run trained epoch " << rest.epochs.front().first;
  ASSERT_EQ(rest.resumed.size(), 1u);
  EXPECT_EQ(rest.resumed.front().first, 1);
  const auto expected = stopped->named_parameters();
  for (const auto& item : resumed->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key() << " differs";
  }
}

// The same on the quickstart's network (a ResNet whose layer3 is a 4-expert top-k MoE layer) with a
// switch balancing loss that moves images between the experts, so that an expert goes without
// images for a batch after it had some: the case where zeroed (rather than unset) gradients made the
// optimiser's step depend on the process's history (this test fails with `zero_grad()`).
TEST_F(TrainerTest, AResumedMoeRunWithBalancedRoutingEndsWithTheWeightsOfAnUninterruptedOne) {
  data_ = synthetic_data({{"train_size", std::int64_t{384}},
                          {"image_size", std::int64_t{28}},
                          {"channels", std::int64_t{1}},
                          {"num_classes", std::int64_t{10}}});
  const Changes resnet{{"depth", std::int64_t{10}},        {"width_multiplier", 0.25},
                       {"stages", std::int64_t{3}},        {"num_experts", std::int64_t{4}},
                       {"moe_type", std::string("block")}, {"moe_layers", std::string("layer3")}};
  armor::BalancingTerm balancing;
  balancing.add("switch", plugin_registry().balancing("switch")(params(PluginKind::balancing, "switch")), 0.5);
  auto moe_model = [&](std::uint64_t seed) {
    torch::manual_seed(seed);
    return armor_test::make_model("resnet", resnet, data_->info, "topk", {{"noise", false}});
  };
  auto fit_moe = [&](armor::Classifier& net, const std::string& path, int stop_after) {
    auto trainer = plugin_registry().trainer("standard")(params(
        PluginKind::trainer, "standard",
        {{"epochs", std::int64_t{3}}, {"batch_size", std::int64_t{128}}, {"schedule", std::string("constant")}}));
    StoppingSink sink(stop_after);
    armor::TrainContext context{net, data_->train, torch::kCPU, nullptr, balancing, sink, /*seed=*/7};
    context.checkpoint = {path, 1, true};
    torch::manual_seed(11);
    trainer->fit(context);
  };
  auto straight = moe_model(1);
  fit_moe(*straight, (folder_ / "moe_straight.pt").string(), 0);
  const std::string path = (folder_ / "moe_killed.pt").string();
  auto killed = moe_model(1);
  fit_moe(*killed, path, /*stop_after=*/1);
  auto resumed = moe_model(99);
  fit_moe(*resumed, path, 0);

  const auto expected = straight->named_parameters();
  for (const auto& item : resumed->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), expected[item.key()])) << item.key() << " differs";
  }
}

TEST_F(TrainerTest, ACheckpointOfAnotherModelIsARunErrorNamingTheFile) {
  const std::string path = (folder_ / "other.pt").string();
  auto net = model(1);
  fit(*net, "standard", {{"epochs", std::int64_t{1}}}, {path, 1, true}, /*stop_after=*/1);
  torch::manual_seed(1);
  auto other = std::make_shared<TinyNet>(64, 4);
  other->hidden = other->replace_module("hidden", torch::nn::Linear(64, 16));
  try {
    fit(*other, "standard", {{"epochs", std::int64_t{2}}}, {path, 1, true});
    FAIL() << "expected a RunError";
  } catch (const armor::RunError& error) {
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
}

TEST_F(TrainerTest, AdversarialTrainersWithoutAThreatModelSaySo) {
  for (const std::string name : {"trades", "fast_at", "free_at"}) {
    auto net = model(1);
    auto trainer = plugin_registry().trainer(name)(params(PluginKind::trainer, name, {{"epochs", std::int64_t{1}}}));
    StoppingSink sink;
    armor::TrainContext context{*net, data_->train, torch::kCPU, nullptr, balancing_, sink, 7};
    try {
      trainer->fit(context);
      ADD_FAILURE() << name << " trained without an [attack]";
    } catch (const armor::RunError& error) {
      EXPECT_NE(std::string(error.what()).find("[attack]"), std::string::npos) << error.what();
    }
  }
}

TEST_F(TrainerTest, ExportedWeightsReadBackByNameWithTheirValues) {
  auto net = model(3);
  const std::string path = (folder_ / "weights.pt").string();
  armor::save_state_dict(*net, path);
  const auto state = armor::load_state_dict(path);
  EXPECT_EQ(state.size(), net->named_parameters().size() + net->named_buffers().size());
  EXPECT_TRUE(torch::equal(state.at("hidden.weight"), net->hidden->weight));
  EXPECT_TRUE(torch::equal(state.at("norm.running_var"), net->norm->running_var));
}

TEST_F(TrainerTest, ExportedWeightsLoadInPythonTorchAsADictOfTensors) {
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Python's torch is not installed (tools/bootstrap.sh installs python3-torch)";
  }
  auto net = model(3);
  const std::string path = (folder_ / "weights.pt").string();
  armor::save_state_dict(*net, path);
  const std::string script = "import torch; s = torch.load('" + path +
                             "'); assert isinstance(s, dict); print(len(s), float(s['hidden.weight'].sum()), "
                             "tuple(s['out.weight'].shape))";
  FILE* pipe = popen(("/usr/bin/python3 -c \"" + script + "\" 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[512] = {0};
  const std::string output = fgets(buffer, sizeof buffer, pipe) != nullptr ? buffer : "";
  ASSERT_EQ(pclose(pipe), 0) << output;
  std::istringstream fields(output);
  std::size_t count = 0;
  double sum = 0;
  fields >> count >> sum;
  EXPECT_EQ(count, net->named_parameters().size() + net->named_buffers().size()) << output;
  EXPECT_NEAR(sum, net->hidden->weight.sum().item<double>(), 1e-4) << output;
  EXPECT_NE(output.find("(4, 32)"), std::string::npos) << output;
}

}  // namespace
