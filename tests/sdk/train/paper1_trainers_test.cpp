// The paper-1 trainers on tiny output-level MoEs (model/output_moe, model/dual_moe): rt_er attacks
// each selected expert once per step on its own sub-batch and lowers the loss; jtdmoe's robust step
// moves only F_R and its standard step only F_S, each step adding the balancing losses of the member
// it trains only.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../../plugins/model_test_support.h"
#include "armor/attack/attack.h"
#include "armor/data/builtin_datasets.h"
#include "armor/error.h"
#include "armor/nn/balancing_loss.h"
#include "armor/nn/dual_model.h"
#include "armor/nn/expert_ensemble.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"

namespace {

using armor::PluginKind;
using armor_test::Changes;
using armor_test::make_model;
using armor_test::plugin_params;
using armor_test::plugin_registry;

Changes ensemble_changes(const Changes& extra = {}) { return armor_test::small_ensemble(3, extra); }

// The experiment's attack, counting its calls and the images of each.
struct CountingAttack : armor::Attack {
  explicit CountingAttack(std::shared_ptr<armor::Attack> inner) : inner(std::move(inner)) {}
  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    batch_sizes.push_back(x.size(0));
    return inner->perturb(model, x, y);
  }
  std::string describe() const override { return inner->describe(); }
  std::optional<armor::ThreatBall> threat_ball() const override { return inner->threat_ball(); }
  std::shared_ptr<armor::Attack> inner;
  std::vector<std::int64_t> batch_sizes;
};

struct NullSink : armor::MetricSink {
  bool epoch_end(int, const armor::MetricValues& values) override {
    last = values;
    return true;
  }
  armor::MetricValues last;
};

// The switch balancing loss, noting for every routing it reads which member of `dual` holds it (the
// MoE layer whose last routing it is: 'R' for F_R, 'S' for F_S, '?' neither), whether it is part of
// an autograd graph, and its value.
struct RecordingBalancingLoss : armor::BalancingLoss {
  torch::Tensor forward(const armor::GateOutput& routing) override {
    const auto holds = [&](armor::Classifier& member) {
      for (auto& [name, layer] : member.moe_layers()) {
        if (layer->last_routing().probs.is_same(routing.probs)) return true;
      }
      return false;
    };
    members += holds(dual->robust()) ? 'R' : holds(dual->standard()) ? 'S' : '?';
    in_graph.push_back(routing.probs.requires_grad());
    torch::Tensor value = inner->forward(routing);
    values.push_back(value.item<double>());
    return value;
  }
  std::shared_ptr<armor::BalancingLoss> inner =
      plugin_registry().balancing("switch")(plugin_params(PluginKind::balancing, "switch"));
  armor::DualModel* dual = nullptr;
  std::string members;
  std::vector<bool> in_graph;
  std::vector<double> values;
};

double metric(const armor::MetricValues& values, const std::string& key) {
  for (const auto& [name, value] : values) {
    if (name == key) return value;
  }
  ADD_FAILURE() << "no metric " << key;
  return 0.0;
}

class Paper1TrainersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    armor::Registry datasets;
    armor::register_builtin_datasets(datasets);
    armor::Params data("data");
    for (const auto& [key, value] : Changes{{"train_size", std::int64_t{64}},
                                            {"test_size", std::int64_t{8}},
                                            {"image_size", std::int64_t{8}},
                                            {"num_classes", std::int64_t{4}},
                                            {"channels", std::int64_t{1}},
                                            {"seed", std::int64_t{0}}}) {
      data.set(key, value, "test");
    }
    data_ = datasets.dataset("synthetic")(data);
    attack_ = std::make_shared<CountingAttack>(plugin_registry().attack("pgd")(
        plugin_params(PluginKind::attack, "pgd", {{"eps", 0.05}, {"steps", std::int64_t{2}}, {"step_size", 0.03}})));
  }

  void fit(armor::Classifier& model, const std::string& trainer_name, const Changes& changes) {
    Changes all{{"epochs", std::int64_t{1}},
                {"batch_size", std::int64_t{32}},
                {"optimizer", std::string("adam")},
                {"lr", 0.01},
                {"schedule", std::string("constant")}};
    all.insert(all.end(), changes.begin(), changes.end());
    auto trainer = plugin_registry().trainer(trainer_name)(plugin_params(PluginKind::trainer, trainer_name, all));
    armor::TrainContext context{model, data_->train, torch::kCPU, attack_.get(), balancing_, sink_, 3};
    trainer->fit(context);
  }

  static std::vector<torch::Tensor> state_of(armor::Classifier& model) {
    std::vector<torch::Tensor> state;
    for (const auto& p : model.parameters()) state.push_back(p.detach().clone());
    for (const auto& b : model.buffers()) state.push_back(b.detach().clone());
    return state;
  }
  static bool unchanged(armor::Classifier& model, const std::vector<torch::Tensor>& before) {
    const auto now = state_of(model);
    for (std::size_t i = 0; i < now.size(); ++i) {
      if (!torch::equal(now[i], before[i])) return false;
    }
    return true;
  }

  std::shared_ptr<armor::DatasetSplits> data_;
  std::shared_ptr<CountingAttack> attack_;
  armor::BalancingTerm balancing_;
  NullSink sink_;
};

TEST_F(Paper1TrainersTest, RtErAttacksEachSelectedExpertOncePerStepOnItsOwnImages) {
  torch::manual_seed(0);
  auto model = make_model("output_moe", ensemble_changes(), data_->info, "linear_router");
  fit(*model, "rt_er", {{"beta", 6.0}, {"selection", std::string("second")}});
  // Two steps of 32 images: per step at most E expert attacks whose images add up to the batch
  // (each image has one second-ranked expert), then one attack on the whole MoE.
  std::int64_t steps = 0, expert_images = 0;
  std::size_t calls_in_step = 0;
  for (const std::int64_t size : attack_->batch_sizes) {
    if (size == 32 && calls_in_step > 0 && expert_images % 32 == 0 && expert_images / 32 == steps + 1) {
      ++steps;  // the whole-MoE attack closes the step
      EXPECT_LE(calls_in_step, 3u);
      calls_in_step = 0;
      continue;
    }
    expert_images += size;
    ++calls_in_step;
  }
  EXPECT_EQ(steps, 2);
  EXPECT_EQ(expert_images, 64);
  for (const char* key : {"train_loss", "train_acc"}) {
    EXPECT_TRUE(std::any_of(sink_.last.begin(), sink_.last.end(), [&](const auto& v) { return v.first == key; }))
        << key;
  }
}

TEST_F(Paper1TrainersTest, RtErLowersTheLossOfAnEasyTask) {
  torch::manual_seed(0);
  auto model = make_model("output_moe", ensemble_changes(), data_->info, "linear_router");
  const auto loss = [&] {
    torch::NoGradGuard no_grad;
    model->eval();
    const torch::Tensor x = data_->train.images.to(torch::kFloat32).div(255.0);
    const double value = torch::nn::functional::cross_entropy(model->forward(x), data_->train.labels).item<double>();
    model->train();
    return value;
  };
  const double before = loss();
  fit(*model, "rt_er", {{"epochs", std::int64_t{4}}, {"beta", 1.0}});
  EXPECT_LT(loss(), 0.7 * before);
}

TEST_F(Paper1TrainersTest, RtErOnAModelWithoutExpertsSaysWhatItNeeds) {
  auto model = make_model("resnet",
                          {{"depth", std::int64_t{10}},
                           {"stages", std::int64_t{1}},
                           {"width_multiplier", 0.125},
                           {"num_experts", std::int64_t{1}}},
                          data_->info);
  try {
    fit(*model, "rt_er", {});
    FAIL() << "expected a RunError";
  } catch (const armor::RunError& error) {
    EXPECT_NE(std::string(error.what()).find("output_moe"), std::string::npos) << error.what();
  }
}

TEST_F(Paper1TrainersTest, JtdMoeRobustStepMovesOnlyFrAndStandardStepOnlyFs) {
  const auto dual_of = [](armor::Classifier& model) -> armor::DualModel& { return *model.dual_model(); };
  for (const std::string phases : {"robust", "standard", "both"}) {
    torch::manual_seed(0);
    auto model = make_model("dual_moe", ensemble_changes({{"alpha", 0.7}}), data_->info, "linear_router");
    armor::DualModel& dual = dual_of(*model);
    const auto standard_before = state_of(dual.standard());
    const auto robust_before = state_of(dual.robust());
    fit(*model, "jtdmoe", {{"phases", phases}, {"beta", 3.0}});
    EXPECT_EQ(unchanged(dual.standard(), standard_before), phases == "robust") << phases << ": F_S";
    EXPECT_EQ(unchanged(dual.robust(), robust_before), phases == "standard") << phases << ": F_R";
  }
}

// Balancing on: the robust step reads F_R's routing of its own final forward pass, the standard step
// F_S's; neither reads the other member's (F_S's routing in the robust step is the previous batch's,
// whose graph its backward pass freed; F_R's in the standard step comes from a no-grad pass).
TEST_F(Paper1TrainersTest, JtdMoeBalancesTheMemberEachStepTrainsOnItsOwnRouting) {
  torch::manual_seed(0);
  auto model = make_model("dual_moe", ensemble_changes({{"alpha", 0.7}}), data_->info, "linear_router");
  auto loss = std::make_shared<RecordingBalancingLoss>();
  loss->dual = model->dual_model();
  balancing_ = armor::BalancingTerm(loss, 0.5);
  ASSERT_NO_THROW(
      fit(*model, "jtdmoe", {{"phases", std::string("both")}, {"beta", 3.0}, {"batch_size", std::int64_t{16}}}));
  EXPECT_EQ(loss->members, "RSRSRSRS") << "4 batches, a robust and a standard step each, one MoE layer per member";
  for (std::size_t i = 0; i < loss->in_graph.size(); ++i) EXPECT_TRUE(loss->in_graph[i]) << "step " << i;
  double sum = 0;
  for (const double value : loss->values) sum += value;
  // Every step sees the 16 images of its batch: the epoch's balancing_loss is the mean over steps.
  EXPECT_NEAR(metric(sink_.last, "balancing_loss"), 0.5 * sum / static_cast<double>(loss->values.size()), 1e-6);
}

TEST_F(Paper1TrainersTest, JtdMoeRobustPhaseLogsTheRobustMembersBalancingLoss) {
  torch::manual_seed(0);
  auto model = make_model("dual_moe", ensemble_changes({{"alpha", 0.7}}), data_->info, "linear_router");
  {
    // F_S has routing of its own before training (as after evaluating a pretrained F_S): the robust
    // phase must not add it.
    torch::NoGradGuard no_grad;
    model->forward(data_->train.images.narrow(0, 0, 8).to(torch::kFloat32).div(255.0));
  }
  auto loss = std::make_shared<RecordingBalancingLoss>();
  loss->dual = model->dual_model();
  balancing_ = armor::BalancingTerm(loss, 0.5);
  fit(*model, "jtdmoe", {{"phases", std::string("robust")}, {"beta", 3.0}, {"batch_size", std::int64_t{16}}});
  double robust_sum = 0;
  std::int64_t robust_count = 0;
  for (std::size_t i = 0; i < loss->values.size(); ++i) {
    if (loss->members[i] != 'R') continue;
    robust_sum += loss->values[i];
    ++robust_count;
  }
  EXPECT_EQ(loss->members, "RRRR");
  ASSERT_EQ(robust_count, 4);
  EXPECT_NEAR(metric(sink_.last, "balancing_loss"), 0.5 * robust_sum / 4.0, 1e-6);
}

}  // namespace
