// model/vit: shapes, gradients, presets and MoE MLP layers routed per image.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/error.h"
#include "armor/nn/moe_layer.h"
#include "model_test_support.h"

namespace {

using armor_test::Changes;
using armor_test::make_model;

const armor::DatasetInfo kTiny{"tiny", 3, 8, 8, 5, {0.5, 0.4, 0.3}, {0.2, 0.25, 0.3}};

Changes tiny_vit(Changes extra = {}) {
  Changes changes{{"preset", std::string("custom")}, {"patch_size", std::int64_t{4}}, {"embed_dim", std::int64_t{16}},
                  {"depth", std::int64_t{2}},        {"heads", std::int64_t{2}},      {"mlp_ratio", 2.0}};
  changes.insert(changes.end(), extra.begin(), extra.end());
  return changes;
}

TEST(VitTest, MapsImagesToLogitsAndEveryParameterGetsAGradient) {
  torch::manual_seed(1);
  for (const bool class_token : {true, false}) {
    auto model = make_model("vit", tiny_vit({{"class_token", class_token}}), kTiny);
    const torch::Tensor logits = model->forward(torch::rand({3, 3, 8, 8}));
    ASSERT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, 5}));
    torch::nn::functional::cross_entropy(logits, torch::tensor({0, 1, 4})).backward();
    for (const auto& item : model->named_parameters()) {
      ASSERT_TRUE(item.value().grad().defined()) << item.key();
      EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0) << item.key();
    }
    EXPECT_TRUE(model->moe_layers().empty());
    EXPECT_EQ(model->named_parameters().contains("cls_token"), class_token);
  }
}

TEST(VitTest, PresetsGiveTheArchitectureAndKeysOverrideThem) {
  // vit_small_16 with depth 1: dim 384, heads 6, MLP 1536, patch 16 on a 16x16 image (1 patch + class token).
  const armor::DatasetInfo image16{"x", 3, 16, 16, 10, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};
  auto model = make_model("vit", {{"preset", std::string("vit_small_16")}, {"depth", std::int64_t{1}}}, image16);
  const auto params = model->named_parameters();
  EXPECT_EQ(params["pos_embed"].sizes(), (std::vector<std::int64_t>{1, 2, 384}));
  EXPECT_EQ(params["blocks.0.mlp.fc1.weight"].sizes(), (std::vector<std::int64_t>{1536, 384}));
  EXPECT_FALSE(params.contains("blocks.1.norm1.weight"));
  EXPECT_EQ(model->forward(torch::rand({2, 3, 16, 16})).sizes(), (std::vector<std::int64_t>{2, 10}));
}

TEST(VitTest, RejectsPatchesThatDoNotTileTheImageAndIncompleteCustomSettings) {
  try {
    make_model("vit", {{"preset", std::string("vit_tiny_16")}}, kTiny);
    FAIL() << "a 16-pixel patch cannot tile an 8x8 image";
  } catch (const armor::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("model.preset gives patch size 16, which must divide the image size 8x8"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(make_model("vit", {{"preset", std::string("custom")}, {"patch_size", std::int64_t{4}}}, kTiny),
               armor::ConfigError);
  EXPECT_THROW(make_model("vit", tiny_vit({{"heads", std::int64_t{3}}}), kTiny), armor::ConfigError);
  EXPECT_THROW(make_model("vit", tiny_vit({{"num_experts", std::int64_t{4}}, {"moe_layers", std::string("2")}}), kTiny),
               armor::ConfigError);
  EXPECT_THROW(make_model("vit", tiny_vit({{"num_experts", std::int64_t{4}}}), kTiny), armor::ConfigError);
}

TEST(VitTest, MoeBlocksRoutePerImageAndReportTheirLayers) {
  torch::manual_seed(2);
  auto model = make_model("vit", tiny_vit({{"num_experts", std::int64_t{3}}, {"moe_layers", std::string("0, 1")}}),
                          kTiny, "topk", {{"noise", false}});
  auto layers = model->moe_layers();
  ASSERT_EQ(layers.size(), 2u);
  EXPECT_EQ(layers[0].first, "blocks.0.mlp");
  EXPECT_EQ(layers[1].first, "blocks.1.mlp");
  EXPECT_TRUE(model->named_parameters().contains("blocks.1.mlp.moe.expert2.mlp.fc1.weight"));

  model->eval();
  const torch::Tensor x = torch::rand({6, 3, 8, 8});
  const torch::Tensor logits = model->forward(x);
  const torch::Tensor routes0 = layers[0].second->last_routing().indices.clone();
  const torch::Tensor routes1 = layers[1].second->last_routing().indices.clone();
  ASSERT_EQ(routes0.sizes(), (std::vector<std::int64_t>{6, 1}));  // one route per image, not per token
  std::int64_t routed = 0;
  for (const std::int64_t count : layers[0].second->last_expert_counts()) routed += count;
  EXPECT_EQ(routed, 6);
  // Each image alone, with both layers fixed to the experts it was routed to, gives the same logits:
  // the whole token sequence of an image goes to its expert (k = 1 weighs it by 1).
  for (std::int64_t n = 0; n < 6; ++n) {
    layers[0].second->set_fixed_expert(routes0[n][0].item<std::int64_t>());
    layers[1].second->set_fixed_expert(routes1[n][0].item<std::int64_t>());
    EXPECT_TRUE(torch::allclose(model->forward(x.narrow(0, n, 1)), logits.narrow(0, n, 1), 1e-5, 1e-6)) << n;
  }
  // The routed experts train: a backward reaches the gate and the experts that received images.
  for (auto& [name, layer] : layers) layer->set_fixed_expert(std::nullopt);
  model->train();
  model->forward(x).sum().backward();
  EXPECT_TRUE(model->named_parameters()["blocks.0.mlp.moe.gate.router.fc.weight"].grad().defined());
}

}  // namespace
