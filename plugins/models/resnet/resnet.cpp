// model/resnet: ResNet-10/18/34/50 (He et al. 2016) whose selected blocks or convolutions are sparse
// top-k MoE layers (paper 2, ALGORITHMS.md §1). forward: x [N,C,H,W] in [0,1] -> logits [N,classes].
//   normalize -> stem -> layer1 .. layer<stages> -> global average pool -> Linear
//   stem "cifar":    conv3x3(C->w, stride 1) BN ReLU
//   stem "imagenet": conv7x7(C->w, stride 2) BN ReLU maxpool3x3(stride 2)
//   layer i: blocks of planes w*2^(i-1) (BasicBlock for depth 10/18/34, Bottleneck x4 for 50),
//            stride 2 from layer2 on; w = round(64 * width_multiplier).
// Names follow torchvision: layer4.1 is the second block of layer4, layer4.0.conv1 its first
// convolution, layer4.0.downsample the shortcut convolution.
// moe_type = block: every block whose name matches moe_layers becomes a MoeLayer of E such blocks
// (each with its own BN and downsample); single_block: only the last block of each matched layer;
// conv: every convolution matching moe_layers becomes a MoeLayer of E convolutions, BN, ReLU and
// the shortcut around it staying shared. num_experts = 1 is the plain ResNet.
// Initialisation, as the released code (torchvision's ResNet, then its MoE injection): every
// convolution outside the MoE layers Kaiming-normal with mode fan_out (torchvision); every
// convolution of an expert (all of a block expert's, downsample included) Kaiming-normal with
// expert_init = fan_in (the default: the released _initialize_weights calls kaiming_normal_ with
// PyTorch's default mode) or fan_out; BatchNorm weight 1, bias 0; the stem convolution and the
// head keep PyTorch's default initialisation (the released CIFAR stem replaces torchvision's).

#include <cmath>
#include <sstream>

#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "armor/nn/classifier.h"
#include "armor/nn/moe_layer.h"
#include "armor/nn/normalize.h"
#include "armor/params/moe_params.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

namespace nn = torch::nn;

// Builds the module at a conv position: a plain Conv2d, or a MoeLayer of them.
// (qualified name, options, input spatial size) -> module
using ConvMaker = std::function<nn::AnyModule(const std::string&, const nn::Conv2dOptions&, std::int64_t)>;

// A residual block: BasicBlock (two 3x3 convs) or Bottleneck (1x1, 3x3 with the stride, 1x1 x4).
// forward: x [N,in,H,W] -> [N,planes*expansion,H/stride,W/stride]
class ResidualBlockImpl : public nn::Module {
 public:
  ResidualBlockImpl(const std::string& name, bool bottleneck, std::int64_t in, std::int64_t planes, std::int64_t stride,
                    std::int64_t size, const ConvMaker& make_conv)
      : bottleneck_(bottleneck) {
    const std::int64_t out = bottleneck ? planes * 4 : planes;
    const std::int64_t out_size = (size - 1) / stride + 1;
    auto conv = [&](const char* local, std::int64_t cin, std::int64_t cout, std::int64_t kernel, std::int64_t s,
                    std::int64_t in_size) {
      nn::AnyModule module = make_conv(
          name + "." + local, nn::Conv2dOptions(cin, cout, kernel).stride(s).padding(kernel / 2).bias(false), in_size);
      register_module(local, module.ptr());
      return module;
    };
    if (bottleneck) {
      conv1_ = conv("conv1", in, planes, 1, 1, size);
      conv2_ = conv("conv2", planes, planes, 3, stride, size);
      conv3_ = conv("conv3", planes, out, 1, 1, out_size);
      bn3_ = register_module("bn3", nn::BatchNorm2d(out));
    } else {
      conv1_ = conv("conv1", in, planes, 3, stride, size);
      conv2_ = conv("conv2", planes, planes, 3, 1, out_size);
    }
    bn1_ = register_module("bn1", nn::BatchNorm2d(planes));
    bn2_ = register_module("bn2", nn::BatchNorm2d(planes));
    if (stride != 1 || in != out) {
      downsample_ = conv("downsample", in, out, 1, stride, size);
      downsample_bn_ = register_module("downsample_bn", nn::BatchNorm2d(out));
    }
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = torch::relu(bn1_(conv1_.forward(x)));
    if (bottleneck_) {
      h = torch::relu(bn2_(conv2_.forward(h)));
      h = bn3_(conv3_.forward(h));
    } else {
      h = bn2_(conv2_.forward(h));
    }
    const torch::Tensor shortcut = downsample_.is_empty() ? x : downsample_bn_(downsample_.forward(x));
    return torch::relu(h + shortcut);
  }

 private:
  bool bottleneck_;
  nn::AnyModule conv1_, conv2_, conv3_, downsample_;
  nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr}, downsample_bn_{nullptr};
};
TORCH_MODULE(ResidualBlock);

std::vector<std::int64_t> blocks_per_layer(std::int64_t depth) {
  switch (depth) {
    case 10: return {1, 1, 1, 1};
    case 18: return {2, 2, 2, 2};
    default: return {3, 4, 6, 3};  // 34 and 50
  }
}

std::vector<std::string> split_filter(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

bool matches(const std::string& name, const std::vector<std::string>& filter) {
  for (const std::string& f : filter) {
    if (name == f || name.rfind(f + ".", 0) == 0) return true;
  }
  return false;
}

// Expert e: a fresh module, or (copy_weights) the template's weights plus 10% Gaussian noise
// (std 0.1 * the tensor's own std).
void copy_with_noise(nn::Module& from, nn::Module& to) {
  torch::NoGradGuard no_grad;
  const auto source = from.named_parameters();
  for (auto& item : to.named_parameters()) {
    const torch::Tensor& original = source[item.key()];
    const double spread = original.numel() > 1 ? original.std().item<double>() : 0.0;
    item.value().copy_(original + torch::randn_like(original) * (0.1 * spread));
  }
  const auto buffers = from.named_buffers();
  for (auto& item : to.named_buffers()) item.value().copy_(buffers[item.key()]);
}

class ResNet : public armor::Classifier {
 public:
  ResNet(const armor::Params& params, const armor::ModelContext& context) {
    const armor::DatasetInfo& data = *context.data;
    const std::int64_t depth = params.integer("depth");
    const bool bottleneck = depth == 50;
    const std::int64_t experts = params.integer("num_experts");
    const std::int64_t k = params.integer("k");
    const std::string& moe_type = params.string("moe_type");
    const std::vector<std::string> filter = split_filter(params.string("moe_layers"));
    const bool copy_weights = params.boolean("copy_weights");
    const std::int64_t width = std::max<std::int64_t>(1, std::llround(64.0 * params.real("width_multiplier")));
    const std::int64_t stages = params.integer("stages");

    normalize_ = register_module("normalize", armor::Normalize(data.mean, data.std));
    std::int64_t size = std::min(data.height, data.width);
    if (params.string("stem") == "cifar") {
      stem_ = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(data.channels, width, 3).padding(1).bias(false)),
                             nn::BatchNorm2d(width), nn::ReLU());
    } else {
      stem_ = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(data.channels, width, 7).stride(2).padding(3).bias(false)),
                             nn::BatchNorm2d(width), nn::ReLU(),
                             nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
      size = ((size - 1) / 2) / 2 + 1;
    }
    register_module("stem", stem_);

    std::vector<std::string> all_names;  // every candidate, for the error message
    auto make_moe = [&](const std::string& name, std::int64_t in_channels, std::int64_t in_size,
                        const std::function<nn::AnyModule()>& make_expert) {
      nn::AnyModule first;
      const auto moe_options =
          armor::MoeLayerOptions(experts, k).in_channels(in_channels).input_shape({in_channels, in_size, in_size});
      armor::MoeLayer moe(moe_options, context.make_gate, [&](std::int64_t e) {
        nn::AnyModule expert = make_expert();
        if (copy_weights) {
          if (e == 0) first = make_expert();
          copy_with_noise(*first.ptr(), *expert.ptr());
        }
        return expert;
      });
      moe_layers_.emplace_back(name, moe);
      return nn::AnyModule(moe);
    };
    const torch::nn::init::FanModeType expert_mode = params.string("expert_init") == "fan_in"
                                                         ? torch::nn::init::FanModeType(torch::kFanIn)
                                                         : torch::nn::init::FanModeType(torch::kFanOut);
    const ConvMaker plain_conv = [](const std::string&, const nn::Conv2dOptions& options, std::int64_t) {
      return nn::AnyModule(kaiming(nn::Conv2d(options), torch::kFanOut));
    };
    // The convolutions inside a block expert.
    const ConvMaker expert_conv = [expert_mode](const std::string&, const nn::Conv2dOptions& options, std::int64_t) {
      return nn::AnyModule(kaiming(nn::Conv2d(options), expert_mode));
    };
    const ConvMaker moe_conv = [&](const std::string& name, const nn::Conv2dOptions& options, std::int64_t in_size) {
      if (moe_type == "conv") all_names.push_back(name);
      if (experts == 1 || moe_type != "conv" || !matches(name, filter)) return plain_conv(name, options, in_size);
      return make_moe(name, options.in_channels(), in_size,
                      [options, expert_mode] { return nn::AnyModule(kaiming(nn::Conv2d(options), expert_mode)); });
    };

    std::int64_t in = width;
    const std::vector<std::int64_t> blocks = blocks_per_layer(depth);
    for (std::int64_t layer = 1; layer <= stages; ++layer) {
      const std::int64_t planes = width << (layer - 1);
      nn::Sequential blocks_of_layer;
      for (std::int64_t b = 0; b < blocks[static_cast<std::size_t>(layer - 1)]; ++b) {
        const std::string name = "layer" + std::to_string(layer) + "." + std::to_string(b);
        const std::int64_t stride = layer > 1 && b == 0 ? 2 : 1;
        const bool last = b + 1 == blocks[static_cast<std::size_t>(layer - 1)];
        const bool moe_block =
            experts > 1 && matches(name, filter) && (moe_type == "block" || (moe_type == "single_block" && last));
        if (moe_type != "conv") all_names.push_back(name);
        auto make_block = [=, &moe_conv, &expert_conv] {
          return nn::AnyModule(
              ResidualBlock(name, bottleneck, in, planes, stride, size, moe_block ? expert_conv : moe_conv));
        };
        blocks_of_layer->push_back(std::to_string(b), moe_block ? make_moe(name, in, size, make_block) : make_block());
        in = bottleneck ? planes * 4 : planes;
        size = (size - 1) / stride + 1;
      }
      body_.push_back(register_module("layer" + std::to_string(layer), blocks_of_layer));
    }
    if (experts > 1 && moe_layers_.empty()) {
      std::string names;
      for (const auto& n : all_names) names += (names.empty() ? "" : ", ") + n;
      params.fail("moe_layers", "matches no " + std::string(moe_type == "conv" ? "convolution" : "block") +
                                    " of this ResNet (" + names + ")");
    }
    head_ = register_module("head", nn::Linear(in, data.num_classes));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = stem_->forward(normalize_(x));
    for (auto& layer : body_) h = layer->forward(h);
    return head_(h.mean({2, 3}));
  }

  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override { return moe_layers_; }

 private:
  // Kaiming-normal with gain sqrt(2) (PyTorch's kaiming_normal_ defaults, a = 0, and ReLU's alike).
  static nn::Conv2d kaiming(nn::Conv2d conv, torch::nn::init::FanModeType mode) {
    nn::init::kaiming_normal_(conv->weight, 0.0, mode, torch::kReLU);
    return conv;
  }

  armor::Normalize normalize_{nullptr};
  nn::Sequential stem_{nullptr};
  std::vector<nn::Sequential> body_;  // layer1 .. layer<stages>
  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers_;
  nn::Linear head_{nullptr};
};

void register_resnet(armor::Registry& registry) {
  registry.add_model(
      "resnet", "ResNet-10/18/34/50 with block- or conv-level top-k MoE layers (paper 2)",
      armor::ParamSchema()
          .integer("depth", 18, "10, 18, 34 (BasicBlock) or 50 (Bottleneck)", 10, 50)
          .string("stem", "cifar", "cifar: 3x3 conv, stride 1; imagenet: 7x7 conv stride 2 + max-pool",
                  {"cifar", "imagenet"})
          .real("width_multiplier", 1.0, "Channels of layer1 = round(64 * width_multiplier)", 0.01)
          .integer("stages", 4, "Residual layers kept (layer1..layerN); fewer makes a smaller network", 1, 4)
          .extend(armor::moe_params(4, "1 = the plain ResNet"))
          .string("moe_type", "block",
                  "block: residual-block experts; single_block: only the last matched block "
                  "of each layer; conv: one MoE layer per convolution",
                  {"block", "single_block", "conv"})
          .string("moe_layers", "layer4",
                  "Comma-separated names (or prefixes) of the blocks/convs to make MoE, "
                  "e.g. layer4, layer4.1, layer3.1.conv2")
          .boolean("copy_weights", false, "Experts start from one set of weights plus 10% noise instead of fresh ones")
          .string("expert_init", "fan_in",
                  "Kaiming-normal mode of the experts' convolutions: fan_in (the released code's kaiming_normal_ "
                  "default) or fan_out (torchvision's, as every convolution outside the MoE layers)",
                  {"fan_in", "fan_out"})
          .check([](const armor::Params& p) {
            const std::int64_t depth = p.integer("depth");
            if (depth != 10 && depth != 18 && depth != 34 && depth != 50) p.fail("depth", "must be 10, 18, 34 or 50");
            if (split_filter(p.string("moe_layers")).empty())
              p.fail("moe_layers", "must name at least one block or conv");
          }),
      [](const armor::Params& params, const armor::ModelContext& context) {
        return std::make_shared<ResNet>(params, context);
      });
}

}  // namespace

ARMOR_PLUGIN("resnet", "1.0", register_resnet)
