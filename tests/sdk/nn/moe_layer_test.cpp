#include "armor/nn/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <vector>

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
  explicit CountingLinearImpl(std::int64_t features) {
    linear = register_module("linear", torch::nn::Linear(features, 5));
  }
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
  layer.moe = armor::MoeLayer(armor::MoeLayerOptions(experts, k),
                              std::make_shared<LinearTopKGate>(features, experts, k), [&](std::int64_t) {
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

TEST(MoeLayerTest, RecordsEachExpertsMeanOutputOnItsImages) {
  torch::manual_seed(5);
  for (const std::int64_t k : {1, 2}) {
    Layer layer = make_layer(4, k);
    const torch::Tensor x = torch::randn({9, 6});
    layer.moe->forward(x);
    const armor::GateOutput& routing = layer.moe->last_routing();
    ASSERT_TRUE(routing.expert_means.defined());
    ASSERT_EQ(routing.expert_means.sizes(), (std::vector<std::int64_t>{4}));
    for (std::int64_t e = 0; e < 4; ++e) {
      const torch::Tensor mine = routing.indices.eq(e).any(1).nonzero().squeeze(1);
      const double expected =
          mine.numel() == 0 ? 0.0 : layer.experts[e]->linear(x.index_select(0, mine)).mean().item<double>();
      EXPECT_NEAR(routing.expert_means[e].item<double>(), expected, 1e-6) << "k = " << k << ", expert " << e;
    }
    // Differentiable into the experts (what paper 2's variance_alpha term trains).
    routing.expert_means.sum().backward();
    bool reached = false;
    for (auto& expert : layer.experts) reached = reached || expert->linear->weight.grad().defined();
    EXPECT_TRUE(reached);
  }
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
  // Three experts, room for one image each, everyone prefers 0 then 1 then 2. Gate values
  // softmax(row): expert 0 keeps image 2 (0.464 > 0.426 > 0.388), expert 1 then image 1 (0.351 >
  // 0.316), image 0 goes to expert 2. In batch order it would have been 0, 1, 2.
  const torch::Tensor same = torch::tensor({{0.6, 0.3, 0.1}, {0.5, 0.4, 0.1}, {0.7, 0.2, 0.1}});
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(same, 1, 1), torch::tensor({{2}, {1}, {0}})));
  // k = 2, room 2: all propose {0, 1}; expert 0 keeps images 2 and 0, expert 1 images 1 and 0; then
  // images 1 and 2 take expert 2. Every expert holds 2.
  const torch::Tensor two = armor::top_k_with_capacity(same, 2, 2);
  EXPECT_TRUE(torch::equal(two, torch::tensor({{0, 1}, {1, 2}, {0, 2}}))) << two;
  // More slots than room: expert 0 keeps image 0, expert 1 image 3 (the highest gate value for 1),
  // and the unplaced images 1 and 2 take their best expert over capacity.
  EXPECT_TRUE(torch::equal(armor::top_k_with_capacity(scores, 1, 1), torch::tensor({{0}, {0}, {0}, {1}})));
}

// The released `topkgating` / `_enforce_capacity` loop (paper 2's TopKGate._topk_with_reassignment,
// max_iter 25) written out image by image: the reference for the batched implementation.
torch::Tensor seed_capacity_routing(const torch::Tensor& scores, std::int64_t k, std::int64_t capacity) {
  const torch::Tensor s = scores.to(torch::kFloat64).contiguous();
  const std::int64_t n = s.size(0), experts = s.size(1);
  auto at = s.accessor<double, 2>();
  std::vector<std::vector<bool>> placed(n, std::vector<bool>(experts, false));
  std::vector<std::int64_t> need(n, k), room(experts, capacity);
  for (int iteration = 0; iteration < 25; ++iteration) {
    const bool last = iteration == 24;  // the released code lifts the capacity in its last iteration
    std::vector<std::vector<double>> gate(n, std::vector<double>(experts, 0.0));
    for (std::int64_t i = 0; i < n; ++i) {  // softmax with the placed scores at -1e5
      double top = -1e300, sum = 0;
      for (std::int64_t e = 0; e < experts; ++e) top = std::max(top, placed[i][e] ? -1e5 : at[i][e]);
      for (std::int64_t e = 0; e < experts; ++e) sum += gate[i][e] = std::exp((placed[i][e] ? -1e5 : at[i][e]) - top);
      for (std::int64_t e = 0; e < experts; ++e) gate[i][e] /= sum;
    }
    std::vector<std::vector<bool>> proposed(n, std::vector<bool>(experts, false));
    for (std::int64_t i = 0; i < n; ++i) {  // each image: its `need` best experts with room
      std::vector<std::int64_t> open;
      for (std::int64_t e = 0; e < experts; ++e) {
        if (!placed[i][e] && (last || room[e] > 0)) open.push_back(e);
      }
      std::stable_sort(open.begin(), open.end(), [&](auto a, auto b) { return gate[i][a] > gate[i][b]; });
      for (std::size_t j = 0; j < open.size() && static_cast<std::int64_t>(j) < need[i]; ++j)
        proposed[i][open[j]] = true;
    }
    for (std::int64_t e = 0; e < experts; ++e) {  // each expert: the proposals with the highest gates
      std::vector<std::int64_t> images;
      for (std::int64_t i = 0; i < n; ++i) {
        if (proposed[i][e]) images.push_back(i);
      }
      std::stable_sort(images.begin(), images.end(), [&](auto a, auto b) { return gate[a][e] > gate[b][e]; });
      const std::int64_t room_before = room[e];
      for (std::size_t j = 0; j < images.size() && (last || static_cast<std::int64_t>(j) < room_before); ++j) {
        placed[images[j]][e] = true;
        --need[images[j]];
        --room[e];
      }
    }
  }
  torch::Tensor chosen = torch::empty({n, k}, torch::kInt64);
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::int64_t> mine;
    for (std::int64_t e = 0; e < experts; ++e) {
      if (placed[i][e]) mine.push_back(e);
    }
    std::stable_sort(mine.begin(), mine.end(), [&](auto a, auto b) { return at[i][a] > at[i][b]; });
    for (std::int64_t j = 0; j < k; ++j) chosen[i][j] = mine.at(static_cast<std::size_t>(j));
  }
  return chosen;
}

// Scores that crowd most images onto the same experts, as an untrained router does.
torch::Tensor crowded_scores(std::int64_t n, std::int64_t experts) {
  return torch::randn({n, experts}) + torch::linspace(2.0, 0.0, experts).unsqueeze(0);
}

TEST(ExpertCapacityTest, MatchesTheReleasedCodesRoutingImageByImage) {
  torch::manual_seed(21);
  for (const std::int64_t experts : {2, 4, 6}) {
    for (std::int64_t k = 1; k <= std::min<std::int64_t>(3, experts); ++k) {
      for (const double factor : {0.5, 1.0, 1.25}) {
        const std::int64_t n = 37;
        const torch::Tensor scores = crowded_scores(n, experts);
        const std::int64_t capacity = armor::expert_capacity(n, experts, k, factor);
        const torch::Tensor ours = armor::top_k_with_capacity(scores, k, capacity);
        const torch::Tensor reference = seed_capacity_routing(scores, k, capacity);
        EXPECT_TRUE(torch::equal(ours, reference)) << "E = " << experts << ", k = " << k << ", capacity " << capacity;
        if (factor >= 1.0 && k == 1) {  // room for every image: no expert over capacity (for k > 1 an image
                                        // can still be stuck: the one expert with room already holds it)
          EXPECT_LE(torch::bincount(ours.reshape({-1}), {}, experts).max().item<std::int64_t>(), capacity);
        }
      }
    }
  }
}

TEST(ExpertCapacityTest, EachExpertKeepsTheImagesWithTheHighestGateValues) {
  torch::manual_seed(22);
  const std::int64_t n = 64, experts = 4, capacity = 16;
  const torch::Tensor scores = crowded_scores(n, experts);
  const torch::Tensor chosen = armor::top_k_with_capacity(scores, 1, capacity).squeeze(1);
  const torch::Tensor gates = torch::softmax(scores, 1);
  const torch::Tensor first_choice = scores.argmax(1);
  std::int64_t crowded = 0;
  for (std::int64_t e = 0; e < experts; ++e) {
    const torch::Tensor wanted = first_choice.eq(e).nonzero().squeeze(1);  // the images whose best is e
    if (wanted.numel() <= capacity) continue;
    ++crowded;
    // Expert e is full with exactly the `capacity` of them with the highest gate values for e.
    const torch::Tensor best =
        wanted.index_select(0, std::get<1>(gates.index_select(0, wanted).select(1, e).topk(capacity)));
    const torch::Tensor kept = chosen.index_select(0, wanted).eq(e);
    EXPECT_EQ(kept.sum().item<std::int64_t>(), capacity) << "expert " << e;
    EXPECT_TRUE(std::get<0>(torch::sort(wanted.masked_select(kept))).equal(std::get<0>(torch::sort(best))))
        << "expert " << e << " kept other images than its highest-gate ones";
  }
  EXPECT_GT(crowded, 0) << "the example must overflow";
}

TEST(ExpertCapacityTest, PermutingTheBatchPermutesTheRouting) {
  torch::manual_seed(23);
  for (const std::int64_t k : {1, 2}) {
    const std::int64_t n = 48, experts = 4;
    const torch::Tensor scores = crowded_scores(n, experts);
    const std::int64_t capacity = armor::expert_capacity(n, experts, k, 1.0);
    const torch::Tensor routing = armor::top_k_with_capacity(scores, k, capacity);
    for (int trial = 0; trial < 3; ++trial) {
      const torch::Tensor permutation = torch::randperm(n);
      const torch::Tensor permuted = armor::top_k_with_capacity(scores.index_select(0, permutation), k, capacity);
      EXPECT_TRUE(torch::equal(permuted, routing.index_select(0, permutation)))
          << "k = " << k << ": the routing depends on the batch order";
    }
  }
}

TEST(MoeLayerTest, RejectsKLargerThanTheNumberOfExperts) { EXPECT_THROW(make_layer(2, 3), c10::Error); }

TEST(MoeLayerTest, BuildsItsGateForTheShapeOfItsOptions) {
  armor::GateShape told;
  const auto options = armor::MoeLayerOptions(4, 2).in_channels(6).input_shape({6});
  armor::MoeLayer moe(
      options,
      [&](const armor::GateShape& shape) {
        told = shape;
        return std::make_shared<LinearTopKGate>(shape.in_channels, shape.num_experts, shape.k);
      },
      [](std::int64_t) { return torch::nn::AnyModule(torch::nn::Linear(6, 5)); });
  EXPECT_EQ(told.num_experts, 4);
  EXPECT_EQ(told.k, 2);
  EXPECT_EQ(told.in_channels, 6);
  EXPECT_EQ(told.input_shape, (std::vector<std::int64_t>{6}));
  EXPECT_EQ(moe->k(), 2);
  EXPECT_EQ(moe->forward(torch::randn({7, 6})).sizes(), (std::vector<std::int64_t>{7, 5}));
  EXPECT_EQ(moe->last_routing().indices.size(1), 2);
  // The guard runs before the gate is built: no gate for a shape the layer cannot have.
  bool built = false;
  EXPECT_THROW(armor::MoeLayer(
                   armor::MoeLayerOptions(2, 3),
                   [&](const armor::GateShape& shape) {
                     built = true;
                     return std::make_shared<LinearTopKGate>(6, shape.num_experts, shape.k);
                   },
                   [](std::int64_t) { return torch::nn::AnyModule(torch::nn::Linear(6, 5)); }),
               c10::Error);
  EXPECT_FALSE(built);
}

TEST(MoeLayerTest, DispatchesTheKOfItsOptionsAndRefusesARoutingOfAnotherK) {
  Layer layer = make_layer(4, 2);
  const torch::Tensor x = torch::randn({5, 6});
  armor::GateOutput top1;
  top1.indices = torch::zeros({5, 1}, torch::kInt64);
  top1.weights = torch::zeros({5, 4}).index_fill_(1, torch::tensor({0}), 1.0);
  EXPECT_THROW(layer.moe->forward_routed(x, top1), c10::Error);
}

}  // namespace
