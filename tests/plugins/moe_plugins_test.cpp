// The shipped MoE plugins (gates, balancing losses, the resnet model), loaded as the host loads them.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "model_test_support.h"
#include "armor/error.h"
#include "armor/nn/balancing_loss.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"

namespace {

using armor::PluginKind;

class MoePluginsTest : public ::testing::Test {
 protected:
  static armor::Registry& registry() { return armor_test::plugin_registry(); }
  // The plugin's defaults, then `changes`.
  static armor::Params params(PluginKind kind, const std::string& name,
                              const std::vector<std::pair<std::string, armor::ParamValue>>& changes = {}) {
    armor::Params p(to_string(kind));
    for (const auto& spec : registry().info(kind, name).params.specs()) p.set(spec.name, spec.default_value, "default");
    for (const auto& [key, value] : changes) p.set(key, value, "test");
    return p;
  }
  static std::shared_ptr<armor::Gate> gate(const std::string& name, armor::GateShape shape,
                                           const std::vector<std::pair<std::string, armor::ParamValue>>& changes = {}) {
    return registry().gate(name)(params(PluginKind::gate, name, changes), shape);
  }
  static double loss(const std::string& name, const armor::GateOutput& routing) {
    return registry().balancing(name)(params(PluginKind::balancing, name))->forward(routing).item<double>();
  }
  static std::shared_ptr<armor::Classifier> resnet(const std::vector<std::pair<std::string, armor::ParamValue>>& changes,
                                                   const armor::DatasetInfo& data) {
    armor::ModelContext context;
    context.data = &data;
    context.make_gate = [](const armor::GateShape& shape) { return gate("topk", shape); };
    return registry().model("resnet")(params(PluginKind::model, "resnet", changes), context);
  }
};

armor::GateShape shape_of(std::int64_t in_channels, std::int64_t experts, std::int64_t k) {
  armor::GateShape shape;
  shape.in_channels = in_channels;
  shape.num_experts = experts;
  shape.k = k;
  return shape;
}

const armor::DatasetInfo kCifar{"tiny", 3, 16, 16, 10, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};

// ---- gates

TEST_F(MoePluginsTest, TopKGateInEvaluationPicksTheLargestProbabilities) {
  torch::manual_seed(5);
  for (const std::string router : {"gap_fc", "conv_gap", "2conv_gap"}) {
    auto g = gate("topk", shape_of(8, 4, 2), {{"router", router}});
    g->eval();
    const torch::Tensor x = torch::randn({10, 8, 5, 5});
    const armor::GateOutput out = g->forward(x);
    ASSERT_EQ(out.probs.sizes(), (std::vector<std::int64_t>{10, 4})) << router;
    EXPECT_TRUE(torch::allclose(out.probs.sum(1), torch::ones({10}))) << router;
    EXPECT_TRUE(torch::equal(out.indices, std::get<1>(out.probs.topk(2, 1)))) << router;
    EXPECT_TRUE(torch::equal(out.indices, g->forward(x).indices)) << router << ": evaluation must be deterministic";
    EXPECT_TRUE(torch::allclose(out.weights.sum(1), torch::ones({10}), 1e-5, 1e-6)) << router;
    EXPECT_EQ(out.weights.gt(0).sum().item<std::int64_t>(), 20) << router;
  }
}

TEST_F(MoePluginsTest, TopKGateAddsNoiseOnlyInTrainingAndNeverWithTheEntropyLoss) {
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({256, 8});
  armor::GateShape shape = shape_of(8, 8, 1);
  shape.balancing_losses = {"switch"};
  auto noisy = gate("topk", shape);
  noisy->eval();
  const torch::Tensor clean = noisy->forward(x).indices;
  EXPECT_TRUE(torch::equal(clean, noisy->forward(x).indices));
  noisy->train();
  // Noise of std 0.1 on scores normalised by their spread changes some near-tied routes.
  EXPECT_FALSE(torch::equal(clean, noisy->forward(x).indices));

  shape.balancing_losses = {"entropy"};
  auto plain = gate("topk", shape);
  plain->train();
  const armor::GateOutput out = plain->forward(x);
  EXPECT_TRUE(torch::equal(out.indices, std::get<1>(out.probs.topk(1, 1))));
}

TEST_F(MoePluginsTest, TopKGateCapacityOverflowsToTheNextExpertInTraining) {
  torch::manual_seed(8);
  auto g = gate("topk", shape_of(8, 4, 1), {{"noise", false}, {"capacity_factor", 1.0}});
  g->train();
  // A biased router: most images prefer the same expert.
  const torch::Tensor x = torch::randn({64, 8}) + torch::randn({1, 8}) * 3;
  const armor::GateOutput out = g->forward(x);
  const torch::Tensor counts = torch::bincount(out.indices.reshape({-1}), {}, 4);
  EXPECT_LE(counts.max().item<std::int64_t>(), 16) << counts;  // capacity ceil(1 * 64 / 4 * 1.0)
  const torch::Tensor best = out.probs.argmax(1);
  const torch::Tensor moved = out.indices.select(1, 0).ne(best);
  ASSERT_GT(moved.sum().item<std::int64_t>(), 0) << "the example must overflow";
  // Whoever moved found its best expert full.
  EXPECT_TRUE(torch::equal(counts.index_select(0, best.masked_select(moved)).eq(16).all(), torch::tensor(true)));
  g->eval();
  EXPECT_TRUE(torch::equal(g->forward(x).indices.select(1, 0), best));  // no capacity in evaluation
}

TEST_F(MoePluginsTest, NoisyTopKGateWeighsTheChosenLogitsBySoftmax) {
  torch::manual_seed(9);
  auto g = gate("noisy_topk", shape_of(6, 5, 2));
  const torch::Tensor x = torch::randn({12, 6, 3, 3});
  g->eval();
  const armor::GateOutput out = g->forward(x);
  EXPECT_TRUE(torch::equal(out.indices, std::get<1>(out.logits.topk(2, 1))));
  const torch::Tensor expected = torch::softmax(out.logits.gather(1, out.indices), 1);
  EXPECT_TRUE(torch::allclose(out.weights.gather(1, out.indices), expected));
  EXPECT_TRUE(torch::allclose(out.weights.sum(1), torch::ones({12})));
  EXPECT_FALSE(out.noise_std.defined());
  EXPECT_TRUE(torch::equal(out.indices, g->forward(x).indices));
  g->train();
  const armor::GateOutput noisy = g->forward(x);
  ASSERT_TRUE(noisy.noise_std.defined());
  EXPECT_GT(noisy.noise_std.min().item<double>(), 0.0);
  EXPECT_FALSE(torch::allclose(noisy.logits, noisy.clean_logits));
}

TEST_F(MoePluginsTest, LinearRouterIsTrainableSoftOrTheSeedsFixedHardArgmax) {
  torch::manual_seed(10);
  armor::GateShape shape = shape_of(1, 4, 1);
  shape.input_shape = {1, 4, 4};
  const torch::Tensor x = torch::randn({8, 1, 4, 4});
  for (const std::string mode : {"soft", "hard"}) {
    auto g = gate("linear_router", shape, {{"mode", mode}});
    const armor::GateOutput out = g->forward(x);
    EXPECT_TRUE(torch::equal(out.indices.squeeze(1), out.probs.argmax(1))) << mode;
    EXPECT_TRUE(torch::allclose(out.weights.sum(1), torch::ones({8}))) << mode;
    EXPECT_EQ(out.weights.requires_grad(), mode == "soft") << mode;
  }
  shape.k = 2;
  EXPECT_THROW(gate("linear_router", shape, {{"mode", "hard"}}), armor::ConfigError);
}

// ---- balancing losses, on p = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]] (p̄ = [0.4, 0.4, 0.2])

armor::GateOutput small_routing() {
  armor::GateOutput r;
  r.probs = torch::tensor({{0.7, 0.2, 0.1}, {0.1, 0.6, 0.3}}, torch::kFloat64);
  r.logits = torch::tensor({{1.0, 0.0, 0.0}, {0.0, 2.0, 0.0}}, torch::kFloat64);
  r.indices = torch::tensor({{0}, {1}}, torch::kInt64);
  return r;
}

TEST_F(MoePluginsTest, SwitchLossMatchesAHandComputedValue) {
  // f = [0.5, 0.5, 0]: 3 * (0.5 * 0.4 + 0.5 * 0.4) - 1
  EXPECT_NEAR(loss("switch", small_routing()), 0.2, 1e-9);
  armor::GateOutput balanced;
  balanced.probs = torch::eye(4).repeat({2, 1});
  EXPECT_NEAR(loss("switch", balanced), 0.0, 1e-6);
}

TEST_F(MoePluginsTest, EntropyLossesMatchHandComputedValues) {
  // H(p_1) = 0.801819, H(p_2) = 0.897946, H(p̄) = 1.054920
  EXPECT_NEAR(loss("entropy", small_routing()), 0.849882 - 1.054920, 1e-5);
  EXPECT_NEAR(loss("column_entropy", small_routing()), -1.054920, 1e-5);
}

TEST_F(MoePluginsTest, VarianceLossMatchesAHandComputedValue) {
  // column stds (Bessel) |a - b| / sqrt(2) = 0.424264, 0.282843, 0.141421: 0.2 - 0.282843 + 1
  EXPECT_NEAR(loss("variance", small_routing()), 0.917157, 1e-5);
}

TEST_F(MoePluginsTest, ImportanceLossMatchesAHandComputedValue) {
  // importance [0.8, 0.8, 0.4]: var 0.053333 / mean² 0.444444 = 0.12; load [1, 1, 0]: (1/3) / (4/9) = 0.75
  EXPECT_NEAR(loss("importance", small_routing()), 0.87, 1e-6);
}

TEST_F(MoePluginsTest, ImportanceLoadTermIsDifferentiableForNoisyGates) {
  torch::manual_seed(11);
  auto g = gate("noisy_topk", shape_of(6, 4, 1));
  g->train();
  const armor::GateOutput out = g->forward(torch::randn({32, 6}));
  registry().balancing("importance")(params(PluginKind::balancing, "importance"))->forward(out).backward();
  const torch::Tensor noise_grad = g->named_parameters()["noise_router.fc.weight"].grad();
  ASSERT_TRUE(noise_grad.defined());
  EXPECT_GT(noise_grad.abs().sum().item<double>(), 0.0);  // only the smooth load reaches the noise
}

TEST_F(MoePluginsTest, ZLossMatchesAHandComputedValue) {
  // (log(e + 2))² = 2.406981, (log(e² + 2))² = 5.015560
  EXPECT_NEAR(loss("z_loss", small_routing()), 3.711271, 1e-5);
}

// ---- the resnet model

TEST_F(MoePluginsTest, ResNetWithOneExpertIsThePlainNetwork) {
  auto model = resnet({{"num_experts", std::int64_t{1}}, {"width_multiplier", 0.125}}, kCifar);
  EXPECT_TRUE(model->moe_layers().empty());
  EXPECT_EQ(model->forward(torch::rand({2, 3, 16, 16})).sizes(), (std::vector<std::int64_t>{2, 10}));
}

TEST_F(MoePluginsTest, ResNetMoeTypesReplaceTheNamedLayers) {
  auto names = [](armor::Classifier& model) {
    std::vector<std::string> out;
    for (auto& [name, layer] : model.moe_layers()) out.push_back(name);
    return out;
  };
  torch::manual_seed(12);
  const torch::Tensor x = torch::rand({4, 3, 16, 16});
  auto block = resnet({{"width_multiplier", 0.125}}, kCifar);
  EXPECT_EQ(names(*block), (std::vector<std::string>{"layer4.0", "layer4.1"}));
  EXPECT_EQ(block->forward(x).sizes(), (std::vector<std::int64_t>{4, 10}));
  auto single = resnet({{"width_multiplier", 0.125}, {"moe_type", "single_block"}}, kCifar);
  EXPECT_EQ(names(*single), (std::vector<std::string>{"layer4.1"}));
  auto conv = resnet({{"width_multiplier", 0.125}, {"moe_type", "conv"}, {"k", std::int64_t{2}}}, kCifar);
  EXPECT_EQ(names(*conv), (std::vector<std::string>{"layer4.0.conv1", "layer4.0.conv2", "layer4.0.downsample",
                                                    "layer4.1.conv1", "layer4.1.conv2"}));
  EXPECT_EQ(conv->forward(x).sizes(), (std::vector<std::int64_t>{4, 10}));
  for (auto& [name, layer] : conv->moe_layers()) EXPECT_EQ(layer->last_routing().indices.size(1), 2) << name;
  auto one = resnet({{"width_multiplier", 0.125}, {"moe_layers", "layer3.1.conv2"}, {"moe_type", "conv"}}, kCifar);
  EXPECT_EQ(names(*one), (std::vector<std::string>{"layer3.1.conv2"}));
  EXPECT_THROW(resnet({{"moe_layers", "layer9"}}, kCifar), armor::ConfigError);
}

TEST_F(MoePluginsTest, ResNetFiftyAndTheImageNetStemTakeAnyInputSize) {
  const armor::DatasetInfo grey{"grey", 1, 40, 40, 7, {0.5}, {0.25}};
  auto model = resnet({{"depth", std::int64_t{50}}, {"stem", "imagenet"}, {"width_multiplier", 0.0625},
                       {"moe_type", "conv"}, {"moe_layers", "layer4.2.conv3"}, {"copy_weights", true}},
                      grey);
  ASSERT_EQ(model->moe_layers().size(), 1u);
  EXPECT_EQ(model->forward(torch::rand({2, 1, 40, 40})).sizes(), (std::vector<std::int64_t>{2, 7}));
}

TEST_F(MoePluginsTest, ResNetCopiedExpertsStartCloseButNotEqual) {
  torch::manual_seed(13);
  auto model = resnet({{"width_multiplier", 0.125}, {"moe_type", "conv"}, {"moe_layers", "layer4.1.conv2"},
                       {"copy_weights", true}},
                      kCifar);
  auto layer = model->moe_layers().front().second;
  const auto params = layer->named_parameters();
  const torch::Tensor w0 = params["expert0.weight"], w1 = params["expert1.weight"];
  const double relative = (w0 - w1).norm().item<double>() / w0.norm().item<double>();
  EXPECT_GT(relative, 0.01);
  EXPECT_LT(relative, 0.5);
}

}  // namespace
