// model/moe_cnn: a small ResNet-style CNN whose chosen stage is a top-k MoE layer of residual
// blocks. forward: x [N,C,H,W] in [0,1] -> logits [N,num_classes].
//   normalize -> stem conv3x3(C->w) BN ReLU -> stage1 BasicBlock(w->w) -> stage2 BasicBlock(w->2w, /2)
//   -> stage3 BasicBlock(2w->4w, /2) -> global average pool -> Linear(4w -> classes)
// Stage `moe_stage` becomes a MoeLayer of num_experts such blocks (num_experts = 1: a plain block).
// Convolutions Kaiming-normal: fan_out outside the MoE layer, `expert_init` (default fan_in, paper
// 2's released code) in the experts; the stem keeps PyTorch's default initialisation.

#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "armor/nn/basic_block.h"
#include "armor/nn/classifier.h"
#include "armor/nn/moe_layer.h"
#include "armor/nn/normalize.h"
#include "armor/params/moe_params.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

using armor::BasicBlock;
using armor::BasicBlockOptions;

class MoeCnn : public armor::Classifier {
 public:
  MoeCnn(const armor::Params& params, const armor::ModelContext& context) {
    namespace nn = torch::nn;
    const armor::DatasetInfo& data = *context.data;
    const std::int64_t width = params.integer("width");
    const std::int64_t experts = params.integer("num_experts");
    const std::int64_t k = params.integer("k");
    moe_stage_ = params.integer("moe_stage");
    normalize_ = register_module("normalize", armor::Normalize(data.mean, data.std));
    stem_ = register_module(
        "stem", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(data.channels, width, 3).padding(1).bias(false)),
                               nn::BatchNorm2d(width), nn::ReLU()));
    const std::int64_t channels[4] = {width, width, 2 * width, 4 * width};
    for (std::int64_t stage = 1; stage <= 3; ++stage) {
      const auto block_options = BasicBlockOptions(channels[stage - 1], channels[stage]).stride(stage == 1 ? 1 : 2);
      nn::AnyModule block;
      if (stage == moe_stage_ && experts > 1) {
        const auto expert_options =
            BasicBlockOptions(block_options)
                .init_mode(params.string("expert_init") == "fan_in" ? torch::nn::init::FanModeType(torch::kFanIn)
                                                                    : torch::nn::init::FanModeType(torch::kFanOut));
        moe_ = armor::MoeLayer(armor::MoeLayerOptions(experts, k).in_channels(channels[stage - 1]), context.make_gate,
                               [&](std::int64_t) { return nn::AnyModule(BasicBlock(expert_options)); });
        block = nn::AnyModule(moe_);
      } else {
        block = nn::AnyModule(BasicBlock(block_options));
      }
      stages_.push_back(block);
      register_module("stage" + std::to_string(stage), block.ptr());
    }
    head_ = register_module("head", nn::Linear(channels[3], data.num_classes));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = stem_->forward(normalize_(x));
    for (auto& stage : stages_) h = stage.forward(h);
    return head_(h.mean({2, 3}));
  }

  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override {
    if (!moe_) return {};
    return {{"stage" + std::to_string(moe_stage_), moe_}};
  }

 private:
  std::int64_t moe_stage_ = 3;
  armor::Normalize normalize_{nullptr};
  torch::nn::Sequential stem_{nullptr};
  std::vector<torch::nn::AnyModule> stages_;
  armor::MoeLayer moe_{nullptr};
  torch::nn::Linear head_{nullptr};
};

void register_moe_cnn(armor::Registry& registry) {
  registry.add_model(
      "moe_cnn", "Small ResNet-style CNN (3 stages) with one top-k MoE stage of residual-block experts",
      armor::ParamSchema()
          .integer("width", 16, "Channels of the first stage (doubled at each later stage)", 1)
          .extend(armor::moe_params(4, "1 = no MoE stage"))
          .integer("moe_stage", 3, "Which stage (1-3) is the MoE layer", 1, 3)
          .string("expert_init", "fan_in",
                  "Kaiming-normal mode of the experts' convolutions: fan_in (paper 2's released code) or fan_out "
                  "(torchvision's, as the convolutions outside the MoE layer)",
                  {"fan_in", "fan_out"}),
      [](const armor::Params& params, const armor::ModelContext& context) {
        return std::make_shared<MoeCnn>(params, context);
      });
}

}  // namespace

ARMOR_PLUGIN("moe_cnn", "1.0", register_moe_cnn)
