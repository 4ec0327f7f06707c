#include "armor/nn/moe_layer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/nn/balancing_loss.h"
#include "armor/nn/gate.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"

namespace {

// A deterministic gate: softmax of a linear map of the flattened input, plain top-k.
class LinearTopKGate : public armor::Gate {
 public:
  LinearTopKGate(std::int64_t in_features, std::int64_t experts, std::int64_t k) : k_(k) {
    fc_ = register_module("fc", torch::nn::Linear(in_features, experts));
  }
  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.logits = fc_(x.flatten(1));
    out.probs = torch::softmax(out.logits, 1);
    out.indices = std::get<1>(out.probs.topk(k_, 1));
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }

 private:
  std::int64_t k_;
  torch::nn::Linear fc_{nullptr};
};

// An expert that remembers how many images each forward saw.
struct CountingLinearImpl : torch::nn::Module {
  explicit CountingLinearImpl(std::int64_t features) { linear = register_module("linear", torch::nn::Linear(features, 5)); }
  torch::Tensor forward(const torch::Tensor& x) {
    seen.push_back(x.size(0));
    return linear(x);
  }
  torch::nn::Linear linear{nullptr};
  std::vector<std::int64_t> seen;
};
TORCH_MODULE(CountingLinear);

struct Layer {
  armor::MoeLayer moe{nullptr};
  std::vector<CountingLinear> experts;
};

Layer make_layer(std::int64_t experts, std::int64_t k, std::int64_t features = 6) {
  Layer layer;
  layer.moe = armor::MoeLayer(armor::MoeLayerOptions(experts, k), std::make_shared<LinearTopKGate>(features, experts, k),
                              [&](std::int64_t) {
                                layer.experts.push_back(CountingLinear(features));
                                return torch::nn::AnyModule(layer.experts.back());
                              });
  return layer;
}

TEST(CombineWeightsTest, TopOneIsExactlyOneWithAStraightThroughGradient) {
  const torch::Tensor logits = torch::randn({4, 3}, torch::requires_grad());
  const torch::Tensor probs = torch::softmax(logits, 1);
  const torch::Tensor indices = probs.argmax(1, true);
  const torch::Tensor weights = armor::combine_weights(probs, indices);
  EXPECT_TRUE(torch::allclose(weights.sum(1), torch::ones({4})));
  EXPECT_TRUE(torch::equal(weights.gt(0), torch::zeros({4, 3}).scatter(1, indices, 1.0).gt(0)));
  weights.sum().backward();
  ASSERT_TRUE(logits.grad().defined());
  // The straight-through estimator passes the chosen probability's gradient: non-zero in general.
  EXPECT_GT(logits.grad().abs().sum().item<double>(), 0.0);
}

TEST(CombineWeightsTest, TopKRenormalisesTheChosenProbabilities) {
  const torch::Tensor probs = torch::tensor({{0.5, 0.3, 0.2}, {0.1, 0.1, 0.8}});
  const torch::Tensor indices = torch::tensor({{0, 1}, {2, 0}}, torch::kInt64);
  const torch::Tensor weights = armor::combine_weights(probs, indices);
  const torch::Tensor expected = torch::tensor({{0.625, 0.375, 0.0}, {1.0 / 9.0, 0.0, 8.0 / 9.0}});
  EXPECT_TRUE(torch::allclose(weights, expected, 1e-6, 1e-6)) << weights;
}

TEST(MoeLayerTest, SparseDispatchEqualsTheDenseReference) {
  torch::manual_seed(1);
  for (const std::int64_t k : {1, 2, 3}) {
    Layer layer = make_layer(4, k);
    const torch::Tensor x = torch::randn({32, 6});
    const torch::Tensor sparse = layer.moe->forward(x);
    const torch::Tensor dense = layer.moe->forward_dense(x);
    EXPECT_TRUE(torch::allclose(sparse, dense, 1e-5, 1e-6)) << "k = " << k;
  }
}

TEST(MoeLayerTest, SparseGradientsEqualTheDenseReference) {
  torch::manual_seed(2);
  Layer layer = make_layer(4, 2);
  const torch::Tensor x = torch::randn({16, 6});
  layer.moe->forward(x).pow(2).sum().backward();
  std::vector<torch::Tensor> sparse_grads;
  for (const auto& p : layer.moe->parameters()) sparse_grads.push_back(p.grad().clone());
  layer.moe->zero_grad();
  layer.moe->forward_dense(x).pow(2).sum().backward();
  const auto params = layer.moe->parameters();
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_TRUE(torch::allclose(sparse_grads[i], params[i].grad(), 1e-4, 1e-5)) << "parameter " << i;
  }
}

TEST(MoeLayerTest, EachExpertRunsOnceOnlyOnItsImages) {
  torch::manual_seed(3);
  Layer layer = make_layer(4, 2);
  const torch::Tensor x = torch::randn({40, 6});
  layer.moe->forward(x);
  const torch::Tensor indices = layer.moe->last_routing().indices;
  std::int64_t total = 0;
  for (std::int64_t e = 0; e < 4; ++e) {
    const std::int64_t routed = indices.eq(e).sum().item<std::int64_t>();
    const auto& seen = layer.experts[static_cast<std::size_t>(e)]->seen;
    if (routed == 0) {
      EXPECT_TRUE(seen.empty()) << "expert " << e;
    } else {
      ASSERT_EQ(seen.size(), 1u) << "expert " << e << " ran more than once";
      EXPECT_EQ(seen[0], routed) << "expert " << e;
    }
    total += routed;
  }
  EXPECT_EQ(total, 40 * 2);
}

TEST(MoeLayerTest, FixedExpertBypassesTheGate) {
  torch::manual_seed(4);
  Layer layer = make_layer(3, 1);
  const torch::Tensor x = torch::randn({8, 6});
  layer.moe->set_fixed_expert(2);
  const torch::Tensor y = layer.moe->forward(x);
  EXPECT_TRUE(torch::allclose(y, layer.experts[2]->linear(x)));
  EXPECT_FALSE(layer.moe->last_routing().indices.defined());
  EXPECT_THROW(layer.moe->set_fixed_expert(3), c10::Error);
}

TEST(MoeLayerTest, RejectsKLargerThanTheNumberOfExperts) {
  EXPECT_THROW(make_layer(2, 3), c10::Error);
}

// The shipped plugins, loaded as the host loads them.
class ShippedPluginsTest : public ::testing::Test {
 protected:
  static armor::Registry& registry() {
    static armor::Registry* registry = [] {
      auto* r = new armor::Registry();
      armor::PluginLoader loader(*r);
      loader.load_search_path({}, {std::string(ARMOR_TEST_BINARY_DIR) + "/plugins"});
      return r;
    }();
    return *registry;
  }
  static armor::Params params(armor::PluginKind kind, const std::string& name) {
    armor::Params p(to_string(kind));
    for (const auto& spec : registry().info(kind, name).params.specs()) p.set(spec.name, spec.default_value, "default");
    return p;
  }
};

TEST_F(ShippedPluginsTest, TopKGateInEvaluationPicksTheLargestProbabilities) {
  torch::manual_seed(5);
  auto gate = registry().gate("topk")(params(armor::PluginKind::gate, "topk"), armor::GateShape{8, 4, 2});
  gate->eval();
  const armor::GateOutput out = gate->forward(torch::randn({10, 8, 5, 5}));
  ASSERT_EQ(out.probs.sizes(), (std::vector<std::int64_t>{10, 4}));
  EXPECT_TRUE(torch::allclose(out.probs.sum(1), torch::ones({10})));
  const torch::Tensor expected = std::get<1>(out.probs.topk(2, 1));
  EXPECT_TRUE(torch::equal(out.indices, expected));
  EXPECT_TRUE(torch::allclose(out.weights.sum(1), torch::ones({10}), 1e-5, 1e-6));
  EXPECT_EQ(out.weights.gt(0).sum().item<std::int64_t>(), 20);
}

TEST_F(ShippedPluginsTest, TopKGateAddsNoiseOnlyInTraining) {
  torch::manual_seed(6);
  auto gate = registry().gate("topk")(params(armor::PluginKind::gate, "topk"), armor::GateShape{8, 8, 1});
  const torch::Tensor x = torch::randn({256, 8});
  gate->eval();
  const torch::Tensor clean = gate->forward(x).indices;
  EXPECT_TRUE(torch::equal(clean, gate->forward(x).indices));
  gate->train();
  // Noise of std 0.1 on scores normalised by their spread changes some near-tied routes.
  EXPECT_FALSE(torch::equal(clean, gate->forward(x).indices));
}

TEST_F(ShippedPluginsTest, SwitchLossIsZeroWhenBalancedAndPositiveWhenCollapsed) {
  auto loss = registry().balancing("switch")(params(armor::PluginKind::balancing, "switch"));
  armor::GateOutput balanced;
  balanced.probs = torch::eye(4).repeat({2, 1});
  EXPECT_NEAR(loss->forward(balanced).item<double>(), 0.0, 1e-6);
  armor::GateOutput collapsed;
  collapsed.probs = torch::zeros({8, 4}).index_fill_(1, torch::tensor({0}), 1.0);
  EXPECT_NEAR(loss->forward(collapsed).item<double>(), 3.0, 1e-6);  // E * 1 * 1 - 1
}

}  // namespace
