// trainer/trades against TRADES' reference code (Zhang et al. 2019, CIFAR-10 settings): the inner
// KL attack steps 0.007 by default (at TRADES' eps 0.031), or step_ratio x eps when asked.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/builtin_datasets.h"
#include "armor/nn/classifier.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"
#include "model_test_support.h"

namespace {

using armor_test::Changes;

// A linear classifier that records the input of every forward in evaluation mode (the inner attack's).
struct RecordingNet : armor::Classifier {
  explicit RecordingNet(std::int64_t pixels) : fc(register_module("fc", torch::nn::Linear(pixels, 4))) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    if (!is_training()) crafted.push_back(x.detach().clone());
    return fc(x.flatten(1));
  }
  torch::nn::Linear fc;
  std::vector<torch::Tensor> crafted;
};

struct NullSink : armor::MetricSink {
  bool epoch_end(int, const armor::MetricValues&) override { return true; }
};

// The largest per-pixel move of the inner attack's first step, over one batch of training.
double first_inner_step(const Changes& trades_changes) {
  armor::Registry builtin;
  armor::register_builtin_datasets(builtin);
  armor::Params data_params("data");
  for (const auto& spec : builtin.info(armor::PluginKind::dataset, "synthetic").params.specs()) {
    data_params.set(spec.name, spec.default_value, "default");
  }
  for (const auto& [key, value] : Changes{{"train_size", std::int64_t{32}},
                                          {"image_size", std::int64_t{8}},
                                          {"channels", std::int64_t{1}},
                                          {"num_classes", std::int64_t{4}}}) {
    data_params.set(key, value, "test");
  }
  const auto data = builtin.dataset("synthetic")(data_params);
  torch::manual_seed(1);
  RecordingNet net(64);
  auto attack = armor_test::plugin_registry().attack("pgd")(
      armor_test::plugin_params(armor::PluginKind::attack, "pgd", {{"eps", 0.031}}));  // TRADES' eps
  Changes changes{{"epochs", std::int64_t{1}}, {"batch_size", std::int64_t{32}}, {"steps", std::int64_t{2}}};
  changes.insert(changes.end(), trades_changes.begin(), trades_changes.end());
  auto trainer = armor_test::plugin_registry().trainer("trades")(
      armor_test::plugin_params(armor::PluginKind::trainer, "trades", changes));
  armor::BalancingTerm balancing;
  NullSink sink;
  armor::TrainContext context{net, data->train, torch::kCPU, attack.get(), balancing, sink, /*seed=*/5};
  trainer->fit(context);
  // Crafting forwards: f(x) once, then one per step at x' = x + 0.001 N(0, 1), then after step 1.
  if (net.crafted.size() < 3) throw std::logic_error("expected the inner attack's forward passes");
  return (net.crafted[2] - net.crafted[1]).abs().max().item<double>();
}

TEST(TradesTest, InnerStepIsTheReferenceCodes0p007ByDefault) {
  const auto& info = armor_test::plugin_registry().info(armor::PluginKind::trainer, "trades");
  const armor::ParamSpec* spec = info.params.find("step_size");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->default_value, armor::ParamValue(0.007));
  EXPECT_NEAR(first_inner_step({}), 0.007, 1e-6);
}

TEST(TradesTest, StepRatioScalesTheInnerStepWithEps) {
  EXPECT_NEAR(first_inner_step({{"step_ratio", 0.25}}), 0.25 * 0.031, 1e-6);
  EXPECT_NEAR(first_inner_step({{"step_size", 0.002}}), 0.002, 1e-6);
}

}  // namespace
