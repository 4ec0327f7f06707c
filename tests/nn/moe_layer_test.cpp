#include "armor/nn/moe_layer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/nn/gate.h"

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
  for (const std::int64_t k : {1, 2}) {
    Layer layer = make_layer(4, k);
    const torch::Tensor x = torch::randn({16, 6}, torch::requires_grad());
    layer.moe->forward(x).pow(2).sum().backward();
    std::vector<torch::Tensor> sparse_grads;
    for (const auto& p : layer.moe->parameters()) sparse_grads.push_back(p.grad().clone());
    const torch::Tensor sparse_input_grad = x.grad().clone();
    layer.moe->zero_grad();
    x.mutable_grad().zero_();
    layer.moe->forward_dense(x).pow(2).sum().backward();
    const auto params = layer.moe->parameters();
    for (std::size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(torch::allclose(sparse_grads[i], params[i].grad(), 1e-4, 1e-5)) << "k = " << k << ", parameter " << i;
    }
    EXPECT_TRUE(torch::allclose(sparse_input_grad, x.grad(), 1e-4, 1e-5)) << "k = " << k << ", input";
  }
}

TEST(MoeLayerTest, TopOneGradientReachesTheGateThroughTheStraightThroughWeight) {
  torch::manual_seed(7);
  Layer layer = make_layer(4, 1);
  layer.moe->forward(torch::randn({16, 6})).pow(2).sum().backward();
  const torch::Tensor gate_grad = layer.moe->gate().named_parameters()["fc.weight"].grad();
  ASSERT_TRUE(gate_grad.defined());
  EXPECT_GT(gate_grad.abs().sum().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(layer.moe->last_routing().weights.sum(1), torch::ones({16})));
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

TEST(MoeLayerTest, FixedExpertRoutesEverythingToThatExpert) {
  torch::manual_seed(4);
  Layer layer = make_layer(3, 1);
  const torch::Tensor x = torch::randn({8, 6});
  layer.moe->set_fixed_expert(2);
  const torch::Tensor y = layer.moe->forward(x);
  EXPECT_TRUE(torch::allclose(y, layer.experts[2]->linear(x)));
  EXPECT_TRUE(torch::equal(layer.moe->last_routing().indices, torch::full({8, 1}, 2, torch::kInt64)));
  EXPECT_FALSE(layer.moe->last_routing().probs.defined());  // balancing losses skip a fixed layer
  EXPECT_EQ(layer.moe->last_expert_counts(), (std::vector<std::int64_t>{0, 0, 8}));
  EXPECT_TRUE(layer.experts[0]->seen.empty());
  EXPECT_THROW(layer.moe->set_fixed_expert(3), c10::Error);
  layer.moe->set_fixed_expert(std::nullopt);
  layer.moe->forward(x);
  EXPECT_TRUE(layer.moe->last_routing().probs.defined());
}

TEST(ExpertCapacityTest, IsTheCeilingOfTheFairShareTimesTheFactor) {
  EXPECT_EQ(armor::expert_capacity(8, 4, 1, 1.0), 2);
  EXPECT_EQ(armor::expert_capacity(10, 4, 2, 1.25), 7);
  EXPECT_EQ(armor::expert_capacity(1, 16, 1, 1.0), 1);
}

TEST(ExpertCapacityTest, OverflowGoesToTheNextBestExpert) {
  const torch::Tensor scores = torch::tensor({{0.9, 0.1}, {0.8, 0.2}, {0.7, 0.3}, {0.6, 0.4}});
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(scores, 1, 0), torch::zeros({4, 1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(scores, 1, 2), torch::tensor({{0}, {0}, {1}, {1}})));
  // Three experts, room for one image each, everyone prefers 0 then 1 then 2.
  const torch::Tensor same = torch::tensor({{0.6, 0.3, 0.1}, {0.5, 0.4, 0.1}, {0.7, 0.2, 0.1}});
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(same, 1, 1), torch::tensor({{0}, {1}, {2}})));
  // k = 2: two distinct experts per image; slot 2 overflows too (image 1: 1 is full, so 2).
  const torch::Tensor two = armor::top_k_with_capacity(same, 2, 2);
  EXPECT_TRUE(torch::equal(two, torch::tensor({{0, 1}, {0, 2}, {1, 2}}))) << two;  // every expert holds 2
  // More slots than room: the unplaced images take their best expert over capacity.
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(scores, 1, 1), torch::tensor({{0}, {1}, {0}, {0}})));
}

TEST(MoeLayerTest, RejectsKLargerThanTheNumberOfExperts) {
  EXPECT_THROW(make_layer(2, 3), c10::Error);
}

}  // namespace
