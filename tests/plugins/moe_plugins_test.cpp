// The shipped MoE plugins (gates, balancing losses, the resnet model), loaded as the host loads them.

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/balancing_loss.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"
#include "model_test_support.h"

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
  static std::shared_ptr<armor::Classifier> resnet(
      const std::vector<std::pair<std::string, armor::ParamValue>>& changes, const armor::DatasetInfo& data) {
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
  // The released _enforce_capacity: a full expert keeps the images with the highest gate values, so
  // the routing of an image does not depend on where the shuffle put it in the batch.
  const torch::Tensor permutation = torch::randperm(64);
  const torch::Tensor permuted = g->forward(x.index_select(0, permutation)).indices;
  EXPECT_TRUE(torch::equal(permuted, out.indices.index_select(0, permutation)));
  g->eval();
  EXPECT_TRUE(torch::equal(g->forward(x).indices.select(1, 0), best));  // no capacity in evaluation
}

TEST_F(MoePluginsTest, NoisyTopKGateCapacityDoesNotDependOnTheBatchOrder) {
  torch::manual_seed(14);
  auto g = gate("noisy_topk", shape_of(8, 4, 2), {{"noise", false}, {"capacity_factor", 1.0}});
  g->train();
  const torch::Tensor x = torch::randn({40, 8}) + torch::randn({1, 8}) * 3;
  const torch::Tensor indices = g->forward(x).indices;
  const torch::Tensor permutation = torch::randperm(40);
  EXPECT_TRUE(torch::equal(g->forward(x.index_select(0, permutation)).indices, indices.index_select(0, permutation)));
}

TEST_F(MoePluginsTest, TwoConvGapRouterIsTheReleasedLayoutWithoutBiases) {
  auto g = gate("topk", shape_of(8, 4, 1), {{"router", "2conv_gap"}});
  std::vector<std::string> names;
  for (const auto& item : g->named_parameters()) names.push_back(item.key());
  // Conv(C->8, 1x1, no bias) -> BN(8) -> Conv(8->E, 1x1, no bias): DoubleConvGlobalAvgRoutingNetwork, bias=False.
  EXPECT_EQ(names, (std::vector<std::string>{"router.conv1.weight", "router.bn.weight", "router.bn.bias",
                                             "router.conv2.weight"}));
  EXPECT_EQ(g->named_parameters()["router.conv1.weight"].sizes(), (std::vector<std::int64_t>{8, 8, 1, 1}));
  EXPECT_EQ(g->named_parameters()["router.conv2.weight"].sizes(), (std::vector<std::int64_t>{4, 8, 1, 1}));
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
    // The fixed router is fixed for every loss: no balancing loss has a gradient into it.
    for (const std::string loss_name : {"switch", "entropy", "importance", "z_loss"}) {
      const torch::Tensor value =
          registry().balancing(loss_name)(params(PluginKind::balancing, loss_name))->forward(out);
      EXPECT_EQ(value.requires_grad(), mode == "soft") << mode << ", " << loss_name;
    }
    EXPECT_EQ(g->is_fixed(), mode == "hard");
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
  r.weights = torch::tensor({{1.0, 0.0, 0.0}, {0.0, 1.0, 0.0}}, torch::kFloat64);  // top-1
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
  // Shazeer et al.'s importance sums the sparse gate values (the combine weights), not the dense
  // probabilities: top-1 importance [1, 1, 0]: var (1/3) / mean² (4/9) = 0.75; load [1, 1, 0]: 0.75.
  // (The dense p would give importance [0.8, 0.8, 0.4] and 0.12 + 0.75 = 0.87.)
  EXPECT_NEAR(loss("importance", small_routing()), 1.5, 1e-6);
  // Top-2 with renormalised gates [[7/9, 2/9, 0], [0, 6/9, 3/9]]: importance [7/9, 8/9, 3/9]: 7/36;
  // load [1, 2, 1]: (1/3) / (16/9) = 3/16.
  armor::GateOutput two = small_routing();
  two.indices = torch::tensor({{0, 1}, {1, 2}}, torch::kInt64);
  two.weights = torch::tensor({{7.0 / 9, 2.0 / 9, 0.0}, {0.0, 6.0 / 9, 3.0 / 9}}, torch::kFloat64);
  EXPECT_NEAR(loss("importance", two), 7.0 / 36 + 3.0 / 16, 1e-9);
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

TEST_F(MoePluginsTest, ExpertVarianceLossIsPaperTwosVarianceAlphaTerm) {
  // m = [0.2, 0.4, 0.9]: Var (Bessel) 0.13, ReLU(1 - sqrt(0.13 + 1e-4)) = 1 - 0.360694
  armor::GateOutput r = small_routing();
  r.expert_means = torch::tensor({0.2, 0.4, 0.9}, torch::kFloat64);
  EXPECT_NEAR(loss("expert_variance", r), 1.0 - std::sqrt(0.1301), 1e-9);
  r.expert_means = torch::tensor({0.0, 2.0, 4.0}, torch::kFloat64);  // outputs far apart: no penalty
  EXPECT_NEAR(loss("expert_variance", r), 0.0, 1e-12);
  // Through a model: the MoE layers record their experts' mean outputs; the term trains the experts.
  torch::manual_seed(15);
  auto model = resnet({{"width_multiplier", 0.125}, {"moe_type", "conv"}, {"moe_layers", "layer4.1.conv2"}}, kCifar);
  model->train();
  model->forward(torch::rand({8, 3, 16, 16}));
  auto layer = model->moe_layers().front().second;
  const armor::GateOutput& routing = layer->last_routing();
  ASSERT_TRUE(routing.expert_means.defined());
  const torch::Tensor value =
      registry().balancing("expert_variance")(params(PluginKind::balancing, "expert_variance"))->forward(routing);
  ASSERT_GT(value.item<double>(), 0.0);  // freshly initialised experts have close mean outputs
  value.backward();
  bool experts_learn = false;
  for (const auto& item : layer->named_parameters()) {
    if (item.key().rfind("expert", 0) == 0 && item.value().grad().defined()) experts_learn = true;
    if (item.key().rfind("gate", 0) == 0) {
      EXPECT_FALSE(item.value().grad().defined()) << item.key();
    }
  }
  EXPECT_TRUE(experts_learn);
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
  auto model = resnet({{"depth", std::int64_t{50}},
                       {"stem", "imagenet"},
                       {"width_multiplier", 0.0625},
                       {"moe_type", "conv"},
                       {"moe_layers", "layer4.2.conv3"},
                       {"copy_weights", true}},
                      grey);
  ASSERT_EQ(model->moe_layers().size(), 1u);
  EXPECT_EQ(model->forward(torch::rand({2, 1, 40, 40})).sizes(), (std::vector<std::int64_t>{2, 7}));
}

TEST_F(MoePluginsTest, ResNetCopiedExpertsStartCloseButNotEqual) {
  torch::manual_seed(13);
  auto model = resnet(
      {{"width_multiplier", 0.125}, {"moe_type", "conv"}, {"moe_layers", "layer4.1.conv2"}, {"copy_weights", true}},
      kCifar);
  auto layer = model->moe_layers().front().second;
  const auto params = layer->named_parameters();
  const torch::Tensor w0 = params["expert0.weight"], w1 = params["expert1.weight"];
  const double relative = (w0 - w1).norm().item<double>() / w0.norm().item<double>();
  EXPECT_GT(relative, 0.01);
  EXPECT_LT(relative, 0.5);
}

// Kaiming-normal std sqrt(2 / fan) of a conv weight [out, in, kh, kw].
double kaiming_std(const torch::Tensor& weight, bool fan_in) {
  const double receptive = static_cast<double>(weight.size(2) * weight.size(3));
  return std::sqrt(2.0 / (receptive * static_cast<double>(fan_in ? weight.size(1) : weight.size(0))));
}

TEST_F(MoePluginsTest, ExpertConvolutionsStartAsTheReleasedCodeInitialisesThem) {
  // The released code: torchvision's ResNet (kaiming_normal_ mode fan_out) whose MoE experts are
  // re-initialised by _initialize_weights, kaiming_normal_ with PyTorch's default mode fan_in.
  auto expect_std = [](const torch::Tensor& weight, bool fan_in, const std::string& what) {
    const double expected = kaiming_std(weight, fan_in);
    EXPECT_NEAR(weight.std().item<double>() / expected, 1.0, 0.05)
        << what << ": std " << weight.std().item<double>() << ", expected " << expected << " ("
        << (fan_in ? "fan_in" : "fan_out") << ")";
  };
  torch::manual_seed(16);
  for (const std::string init : {"fan_in", "fan_out"}) {
    auto block = resnet({{"width_multiplier", 0.125}, {"expert_init", init}}, kCifar);  // BlockMoE on layer4
    auto p = block->named_parameters();
    // layer4.0.conv1: 32 -> 64 channels, so fan_in (288) and fan_out (576) differ.
    expect_std(p["layer4.0.expert1.conv1.weight"], init == "fan_in", "block expert conv1 (" + init + ")");
    expect_std(p["layer4.0.expert0.downsample.weight"], init == "fan_in", "block expert downsample (" + init + ")");
    expect_std(p["layer3.0.conv1.weight"], false, "conv outside the MoE layers");
    auto conv = resnet({{"width_multiplier", 0.125}, {"moe_type", "conv"}, {"expert_init", init}}, kCifar);
    auto q = conv->named_parameters();
    expect_std(q["layer4.0.conv1.expert2.weight"], init == "fan_in", "conv expert (" + init + ")");
    expect_std(q["layer3.0.conv1.weight"], false, "conv outside the MoE layers");
    armor::ModelContext context;
    context.data = &kCifar;
    context.make_gate = [](const armor::GateShape& shape) { return gate("topk", shape); };
    auto cnn = registry().model("moe_cnn")(params(PluginKind::model, "moe_cnn", {{"expert_init", init}}), context);
    auto r = cnn->named_parameters();
    expect_std(r["stage3.expert0.conv1.weight"], init == "fan_in", "moe_cnn expert (" + init + ")");
    expect_std(r["stage2.conv1.weight"], false, "moe_cnn conv outside the MoE layer");
  }
  const armor::ParamSpec* spec = registry().info(PluginKind::model, "resnet").params.find("expert_init");
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->default_value, armor::ParamValue(std::string("fan_in")));
}

}  // namespace
