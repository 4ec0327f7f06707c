// model/output_moe and model/dual_moe (paper 1): the ensemble interface, the routers, the dual mix.

#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/data/builtin_datasets.h"
#include "armor/error.h"
#include "armor/nn/dual_model.h"
#include "armor/nn/expert_ensemble.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"
#include "model_test_support.h"

namespace {

using armor_test::Changes;
using armor_test::make_model;

const armor::DatasetInfo kTiny{"tiny", 1, 8, 8, 4, {0.5}, {0.25}};

using armor_test::kSmallResnetExpert;

Changes ensemble(const Changes& extra = {}) { return armor_test::small_ensemble(3, extra); }

armor::ExpertEnsemble& as_ensemble(armor::Classifier& model) {
  armor::ExpertEnsemble* ensemble = model.expert_ensemble();
  if (ensemble == nullptr) throw std::logic_error("not an expert ensemble");
  return *ensemble;
}

TEST(OutputMoeTest, LogitsAreTheRouterWeightedSumOfTheChosenExperts) {
  torch::manual_seed(3);
  for (const std::int64_t k : {1, 2}) {
    auto model = make_model("output_moe", ensemble({{"k", k}}), kTiny, "linear_router");
    model->eval();
    armor::ExpertEnsemble& moe = as_ensemble(*model);
    ASSERT_EQ(moe.num_experts(), 3);
    EXPECT_EQ(model->dual_model(), nullptr);
    const torch::Tensor x = torch::rand({10, 1, 8, 8});
    const torch::Tensor logits = model->forward(x);
    const armor::GateOutput routing = moe.route(x);
    const torch::Tensor per_expert = moe.expert_logits(x);
    ASSERT_EQ(per_expert.sizes(), (std::vector<std::int64_t>{3, 10, 4}));
    EXPECT_TRUE(torch::equal(per_expert[1], moe.expert(1).forward(x)));
    // Off the chosen experts the weight is 0; on them, softmax of the chosen router logits.
    const torch::Tensor chosen_logits = routing.logits.gather(1, routing.indices);
    const torch::Tensor expected_weights =
        torch::zeros({10, 3}).scatter(1, routing.indices, torch::softmax(chosen_logits, 1));
    EXPECT_TRUE(torch::allclose(routing.weights, expected_weights, 1e-5, 1e-6)) << "k = " << k;
    EXPECT_EQ(routing.weights.gt(0).sum(1).eq(k).all().item<bool>(), true);
    EXPECT_TRUE(torch::allclose(logits, armor::combine_expert_logits(routing.weights, per_expert), 1e-5, 1e-5))
        << "k = " << k;
    // Held routing: the same route gives the same logits; another route other logits.
    EXPECT_TRUE(torch::allclose(moe.forward_routed(x, routing), logits, 1e-5, 1e-5));
    armor::GateOutput shifted = routing;
    shifted.indices = (routing.indices + 1).remainder(3);
    shifted.weights = torch::zeros({10, 3}).scatter(1, shifted.indices, 1.0 / static_cast<double>(k));
    EXPECT_TRUE(torch::allclose(moe.forward_routed(x, shifted),
                                armor::combine_expert_logits(shifted.weights, per_expert), 1e-5, 1e-5));
    const auto layers = model->moe_layers();
    ASSERT_EQ(layers.size(), 1u);
    EXPECT_EQ(layers[0].first, "moe");
  }
}

TEST(OutputMoeTest, TrainableRouterLearnsAndTheSeedsFixedRouterDoesNot) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::rand({8, 1, 8, 8});
  const torch::Tensor y = torch::tensor({0, 1, 2, 3, 0, 1, 2, 3});
  for (const std::string mode : {"soft", "hard"}) {
    auto model = make_model("output_moe", ensemble(), kTiny, "linear_router", {{"mode", mode}});
    model->train();
    torch::nn::functional::cross_entropy(model->forward(x), y).backward();
    const torch::Tensor router_grad = model->named_parameters()["moe.gate.gate.router.fc.weight"].grad();
    const bool learns = router_grad.defined() && router_grad.abs().sum().item<double>() > 0;
    EXPECT_EQ(learns, mode == "soft") << mode;
    const armor::GateOutput routing = as_ensemble(*model).route(x);
    EXPECT_TRUE(torch::equal(routing.weights.sum(1), torch::ones({8}))) << mode;
  }
}

struct NullSink : armor::MetricSink {
  bool epoch_end(int, const armor::MetricValues&) override { return true; }
};

// The released router never trains: neither the task loss nor any balancing loss reaches it, and
// no optimiser (momentum, weight decay, Adam) moves it; behind a conv stem the stem is fixed too,
// BatchNorm statistics included. The experts do train.
TEST(OutputMoeTest, TheSeedsFixedRouterNeverMovesUnderAnyLossOrOptimiser) {
  armor::Registry builtin;
  armor::register_builtin_datasets(builtin);
  armor::Params data_params("data");
  for (const auto& spec : builtin.info(armor::PluginKind::dataset, "synthetic").params.specs()) {
    data_params.set(spec.name, spec.default_value, "default");
  }
  for (const auto& [key, value] : Changes{{"train_size", std::int64_t{64}},
                                          {"test_size", std::int64_t{16}},
                                          {"image_size", std::int64_t{8}},
                                          {"channels", std::int64_t{1}},
                                          {"num_classes", std::int64_t{4}}}) {
    data_params.set(key, value, "test");
  }
  const auto data = builtin.dataset("synthetic")(data_params);
  armor::BalancingTerm balancing;
  for (const auto& [name, weight] : std::vector<std::pair<std::string, double>>{
           {"switch", 0.5}, {"entropy", 0.1}, {"importance", 0.1}, {"z_loss", 0.01}, {"expert_variance", 0.1}}) {
    balancing.add(
        name,
        armor_test::plugin_registry().balancing(name)(armor_test::plugin_params(armor::PluginKind::balancing, name)),
        weight);
  }
  for (const std::string router_input : {"image", "conv_stem"}) {
    for (const std::string optimizer : {"sgd", "adam"}) {
      torch::manual_seed(9);
      auto model = make_model("output_moe", ensemble({{"router_input", router_input}}), data->info, "linear_router",
                              {{"mode", std::string("hard")}});
      std::map<std::string, torch::Tensor> before;
      for (const auto& item : model->named_parameters()) before[item.key()] = item.value().detach().clone();
      for (const auto& item : model->named_buffers()) before[item.key()] = item.value().detach().clone();
      auto trainer = armor_test::plugin_registry().trainer("standard")(
          armor_test::plugin_params(armor::PluginKind::trainer, "standard",
                                    {{"epochs", std::int64_t{2}},
                                     {"batch_size", std::int64_t{16}},
                                     {"optimizer", optimizer},
                                     {"lr", 0.05},
                                     {"weight_decay", 0.01}}));
      NullSink sink;
      armor::TrainContext context{*model, data->train, torch::kCPU, nullptr, balancing, sink, /*seed=*/3};
      trainer->fit(context);
      std::size_t router_tensors = 0;
      bool experts_moved = false;
      for (const auto& [key, value] : before) {
        torch::Tensor now =
            model->named_parameters().contains(key) ? model->named_parameters()[key] : model->named_buffers()[key];
        const bool router = key.rfind("moe.gate.", 0) == 0;
        if (router) {
          ++router_tensors;
          EXPECT_TRUE(torch::equal(now, value))
              << router_input << ", " << optimizer << ": the fixed router's " << key << " moved";
          if (model->named_parameters().contains(key)) {
            EXPECT_FALSE(now.grad().defined()) << key << " has a gradient";
          }
        } else if (!torch::equal(now, value)) {
          experts_moved = true;
        }
      }
      EXPECT_GE(router_tensors, router_input == "image" ? 2u : 7u) << router_input;  // fc (+ stem conv, BN)
      EXPECT_TRUE(experts_moved) << router_input << ", " << optimizer;
    }
  }
}

TEST(OutputMoeTest, GapFcRouterOnAConvStemRoutesEveryImage) {
  torch::manual_seed(5);
  auto model = make_model(
      "output_moe", ensemble({{"router_input", std::string("conv_stem")}, {"router_stem_channels", std::int64_t{4}}}),
      kTiny, "topk", {{"router", std::string("gap_fc")}, {"noise", false}});
  model->eval();
  const torch::Tensor x = torch::rand({5, 1, 8, 8});
  EXPECT_EQ(model->forward(x).sizes(), (std::vector<std::int64_t>{5, 4}));
  EXPECT_TRUE(model->named_parameters().contains("moe.gate.stem.0.weight"));
  std::int64_t routed = 0;
  for (const std::int64_t count : model->moe_layers()[0].second->last_expert_counts()) routed += count;
  EXPECT_EQ(routed, 5);
}

TEST(OutputMoeTest, ExpertsAreDenseNetworksBuiltFromTheirInlineParameters) {
  torch::manual_seed(6);
  auto model = make_model("output_moe", ensemble(), kTiny, "linear_router");
  // resnet's num_experts defaults to 1 inside output_moe: plain residual blocks, 8 channels.
  EXPECT_EQ(model->named_parameters()["moe.expert0.stem.0.weight"].sizes(), (std::vector<std::int64_t>{8, 1, 3, 3}));
  EXPECT_TRUE(model->named_parameters().contains("moe.expert2.layer1.0.conv1.weight"));
  auto expect_config_error = [](const Changes& changes, const std::string& fragment) {
    try {
      make_model("output_moe", changes, kTiny, "linear_router");
      ADD_FAILURE() << "expected a ConfigError containing: " << fragment;
    } catch (const armor::ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
    }
  };
  expect_config_error(ensemble({{"expert_params", std::string("depht = 10")}}),
                      "test: unknown key model.expert_params.depht (did you mean 'depth'?)");
  expect_config_error(ensemble({{"expert_params", std::string("depth = 'ten'")}}),
                      "model.expert_params.depth must be an integer");
  expect_config_error(ensemble({{"expert_params", std::string("depth = 10,")}}),
                      "must be the body of a TOML inline table");
  expect_config_error(ensemble({{"expert_params", kSmallResnetExpert + ", num_experts = 2, moe_layers = 'layer1'"}}),
                      "the experts of output_moe must be dense");
  expect_config_error(ensemble({{"expert", std::string("resnett")}}), "did you mean 'resnet'?");
  expect_config_error(ensemble({{"k", std::int64_t{4}}}),
                      "test: model: k <= num_experts does not hold (k = 4, num_experts = 3)");
  // The expert's own declared constraint, on its dense default num_experts = 1.
  expect_config_error(ensemble({{"expert_params", kSmallResnetExpert + ", k = 2"}}),
                      "test: model.expert_params: k <= num_experts does not hold (k = 2, num_experts = 1)");
}

TEST(OutputMoeTest, VitExpertsWork) {
  torch::manual_seed(7);
  auto model = make_model("output_moe",
                          {{"expert", std::string("vit")},
                           {"expert_params", std::string("preset = 'custom', patch_size = 4, embed_dim = 8, depth = 1, "
                                                         "heads = 2, mlp_ratio = 2")},
                           {"num_experts", std::int64_t{2}}},
                          kTiny, "linear_router");
  EXPECT_EQ(model->forward(torch::rand({3, 1, 8, 8})).sizes(), (std::vector<std::int64_t>{3, 4}));
}

TEST(DualMoeTest, LogitsAreExactlyTheAlphaMixOfTheStandardAndRobustMembers) {
  torch::manual_seed(8);
  auto model = make_model("dual_moe", ensemble({{"alpha", 0.7}, {"k", std::int64_t{2}}}), kTiny, "linear_router");
  model->eval();
  armor::DualModel* dual = model->dual_model();
  ASSERT_NE(dual, nullptr);
  EXPECT_EQ(model->expert_ensemble(), nullptr);
  EXPECT_DOUBLE_EQ(dual->alpha(), 0.7);
  const torch::Tensor x = torch::rand({6, 1, 8, 8});
  const torch::Tensor standard = dual->standard().forward(x);
  const torch::Tensor robust = dual->robust().forward(x);
  EXPECT_FALSE(torch::allclose(standard, robust));  // two independently initialised members
  EXPECT_TRUE(torch::equal(model->forward(x), standard * 0.3 + robust * 0.7));
  ASSERT_NE(dual->robust().expert_ensemble(), nullptr);
  EXPECT_EQ(dual->robust().expert_ensemble()->num_experts(), 3);
  const auto layers = model->moe_layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].first, "standard.moe");
  EXPECT_EQ(layers[1].first, "robust.moe");
  // The members' parameters split the model's: an optimiser of one never touches the other.
  EXPECT_EQ(dual->standard().parameters().size() + dual->robust().parameters().size(), model->parameters().size());
  EXPECT_TRUE(model->named_parameters().contains("robust.moe.expert2.head.weight"));
}

}  // namespace
