// model/vit: Vision Transformer (Dosovitskiy et al. 2021), pre-norm, whose selected blocks have a
// sparse top-k MoE layer of MLP experts in place of their MLP. Paper 1 uses ViT-small/16 experts.
// forward: x [N,C,H,W] in [0,1] -> logits [N,classes].
//   normalize -> patch embedding Conv(C->D, p x p, stride p) -> [N,P,D], P = (H/p)*(W/p)
//   -> [class token;] tokens + learned position embedding -> [N,T,D], T = P (+1)
//   -> depth x block: x + Attention(LN(x)), then x + MLP(LN(x))   (MLP: D -> D*mlp_ratio -> D, GELU)
//   -> LN -> class token (or the mean token without one) -> Linear(D -> classes)
// The image size is the data's; the patch size must divide it. `preset` gives the architecture
// (vit_small_16: patch 16, dim 384, depth 12, heads 6, mlp 4); a non-zero patch_size, embed_dim,
// depth, heads or mlp_ratio overrides it; preset = "custom" starts from nothing, so all five must
// be set.
//
// MoE blocks (moe_layers = "10,11", num_experts > 1): block i's MLP becomes the MoeLayer
// "blocks.<i>.mlp" of num_experts MLPs with the configured gate. Routing is per image, as in every
// armor MoE layer (balancing losses, fixed-expert evaluation and the expert x class statistics count
// images): the gate sees the block's tokens as channels-first [N,D,T,1] (so gap_fc scores the mean
// token, 2conv_gap works on 1x1 convolutions, conv_gap needs H,W >= 3 and does not fit), and the
// image's whole token sequence goes to its chosen experts. V-MoE's per-token routing is not offered.

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

struct Architecture {
  std::int64_t patch_size = 0;
  std::int64_t embed_dim = 0;
  std::int64_t depth = 0;
  std::int64_t heads = 0;
  double mlp_ratio = 0;
};

const std::vector<std::pair<std::string, Architecture>>& presets() {
  static const std::vector<std::pair<std::string, Architecture>> table{
      {"vit_tiny_16", {16, 192, 12, 3, 4.0}},
      {"vit_small_16", {16, 384, 12, 6, 4.0}},
      {"vit_base_16", {16, 768, 12, 12, 4.0}},
      {"vit_small_8", {8, 384, 12, 6, 4.0}},
      {"custom", {}},
  };
  return table;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& [name, arch] : presets()) names.push_back(name);
  return names;
}

// The preset's architecture with every non-zero key of `params` on top.
Architecture architecture(const armor::Params& params) {
  Architecture arch;
  for (const auto& [name, preset] : presets()) {
    if (name == params.string("preset")) arch = preset;
  }
  if (params.integer("patch_size") != 0) arch.patch_size = params.integer("patch_size");
  if (params.integer("embed_dim") != 0) arch.embed_dim = params.integer("embed_dim");
  if (params.integer("depth") != 0) arch.depth = params.integer("depth");
  if (params.integer("heads") != 0) arch.heads = params.integer("heads");
  if (params.real("mlp_ratio") != 0) arch.mlp_ratio = params.real("mlp_ratio");
  return arch;
}

// "10, 11" -> {10, 11}; Params::fail on anything but comma-separated block indices below depth.
std::vector<std::int64_t> moe_block_indices(const armor::Params& params, std::int64_t depth) {
  std::vector<std::int64_t> indices;
  std::stringstream stream(params.string("moe_layers"));
  std::string part;
  while (std::getline(stream, part, ',')) {
    part.erase(0, part.find_first_not_of(" \t"));
    part.erase(part.find_last_not_of(" \t") + 1);
    if (part.empty()) continue;
    std::size_t used = 0;
    std::int64_t index = -1;
    try {
      index = std::stoll(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != part.size() || index < 0 || index >= depth) {
      params.fail("moe_layers",
                  "must list block indices in [0, " + std::to_string(depth - 1) + "] ('" + part + "' is not one)");
    }
    indices.push_back(index);
  }
  return indices;
}

nn::Linear vit_linear(std::int64_t in, std::int64_t out) {
  nn::Linear linear(in, out);
  torch::NoGradGuard no_grad;
  linear->weight.normal_(0.0, 0.02);
  linear->bias.zero_();
  return linear;
}

// Multi-head self-attention. forward: x [N,T,D] -> [N,T,D].
class AttentionImpl : public nn::Module {
 public:
  AttentionImpl(std::int64_t dim, std::int64_t heads)
      : heads_(heads), scale_(1.0 / std::sqrt(static_cast<double>(dim / heads))) {
    qkv_ = register_module("qkv", vit_linear(dim, 3 * dim));
    proj_ = register_module("proj", vit_linear(dim, dim));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const std::int64_t n = x.size(0), t = x.size(1), d = x.size(2);
    const torch::Tensor qkv = qkv_(x).reshape({n, t, 3, heads_, d / heads_}).permute({2, 0, 3, 1, 4});  // [3,N,H,T,d/H]
    const torch::Tensor attention = torch::softmax(qkv[0].matmul(qkv[1].transpose(-2, -1)) * scale_, -1);
    return proj_(attention.matmul(qkv[2]).transpose(1, 2).reshape({n, t, d}));
  }

 private:
  std::int64_t heads_;
  double scale_;
  nn::Linear qkv_{nullptr}, proj_{nullptr};
};
TORCH_MODULE(Attention);

// The block MLP. forward: x [..., D] -> [..., D].
class MlpImpl : public nn::Module {
 public:
  MlpImpl(std::int64_t dim, std::int64_t hidden) {
    fc1_ = register_module("fc1", vit_linear(dim, hidden));
    fc2_ = register_module("fc2", vit_linear(hidden, dim));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2_(torch::gelu(fc1_(x))); }

 private:
  nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(Mlp);

// One MLP expert of a MoE block, in the MoE layer's channels-first layout.
// forward: x [n,D,T,1] -> [n,D,T,1] (the MLP on every token).
class ChannelsFirstMlpImpl : public nn::Module {
 public:
  ChannelsFirstMlpImpl(std::int64_t dim, std::int64_t hidden) { mlp_ = register_module("mlp", Mlp(dim, hidden)); }
  torch::Tensor forward(const torch::Tensor& x) {
    return mlp_(x.squeeze(3).transpose(1, 2)).transpose(1, 2).unsqueeze(3);
  }

 private:
  Mlp mlp_{nullptr};
};
TORCH_MODULE(ChannelsFirstMlp);

// A MoE layer of MLP experts on a token sequence, routed per image.
// forward: x [N,T,D] -> [N,T,D]; the MoeLayer sees [N,D,T,1] (channels first, like a feature map).
class TokenMoeImpl : public nn::Module {
 public:
  explicit TokenMoeImpl(armor::MoeLayer moe) : moe_(register_module("moe", std::move(moe))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return moe_(x.transpose(1, 2).unsqueeze(3)).squeeze(3).transpose(1, 2);
  }

 private:
  armor::MoeLayer moe_;
};
TORCH_MODULE(TokenMoe);

// Pre-norm transformer block. forward: x [N,T,D] -> [N,T,D].
class BlockImpl : public nn::Module {
 public:
  BlockImpl(std::int64_t dim, std::int64_t heads, nn::AnyModule mlp) : mlp_(std::move(mlp)) {
    norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
    attention_ = register_module("attn", Attention(dim, heads));
    norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
    register_module("mlp", mlp_.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    x = x + attention_(norm1_(x));
    return x + mlp_.forward(norm2_(x));
  }

 private:
  nn::LayerNorm norm1_{nullptr}, norm2_{nullptr};
  Attention attention_{nullptr};
  nn::AnyModule mlp_;
};
TORCH_MODULE(Block);

class VisionTransformer : public armor::Classifier {
 public:
  VisionTransformer(const armor::Params& params, const armor::ModelContext& context)
      : class_token_(params.boolean("class_token")) {
    const armor::DatasetInfo& data = *context.data;
    const Architecture arch = architecture(params);
    const std::int64_t experts = params.integer("num_experts");
    const std::int64_t k = params.integer("k");
    const std::vector<std::int64_t> moe_blocks = moe_block_indices(params, arch.depth);
    if (experts > 1 && moe_blocks.empty())
      params.fail("moe_layers", "must list the blocks whose MLP is a MoE layer when num_experts > 1");
    if (experts == 1 && !moe_blocks.empty())
      params.fail("moe_layers", "needs num_experts > 1 (num_experts = 1 is the dense ViT)");
    if (data.height % arch.patch_size != 0 || data.width % arch.patch_size != 0) {
      params.fail(params.integer("patch_size") != 0 ? "patch_size" : "preset",
                  "gives patch size " + std::to_string(arch.patch_size) + ", which must divide the image size " +
                      std::to_string(data.height) + "x" + std::to_string(data.width));
    }
    const std::int64_t dim = arch.embed_dim;
    const auto hidden = static_cast<std::int64_t>(std::llround(static_cast<double>(dim) * arch.mlp_ratio));
    const std::int64_t tokens =
        (data.height / arch.patch_size) * (data.width / arch.patch_size) + (class_token_ ? 1 : 0);

    normalize_ = register_module("normalize", armor::Normalize(data.mean, data.std));
    patch_embed_ = register_module(
        "patch_embed", nn::Conv2d(nn::Conv2dOptions(data.channels, dim, arch.patch_size).stride(arch.patch_size)));
    if (class_token_) cls_token_ = register_parameter("cls_token", torch::randn({1, 1, dim}) * 0.02);
    pos_embed_ = register_parameter("pos_embed", torch::randn({1, tokens, dim}) * 0.02);
    for (std::int64_t i = 0; i < arch.depth; ++i) {
      const std::string name = "blocks." + std::to_string(i) + ".mlp";
      nn::AnyModule mlp;
      if (std::find(moe_blocks.begin(), moe_blocks.end(), i) != moe_blocks.end()) {
        const auto moe_options = armor::MoeLayerOptions(experts, k).in_channels(dim).input_shape({dim, tokens, 1});
        armor::MoeLayer moe(moe_options, context.make_gate,
                            [&](std::int64_t) { return nn::AnyModule(ChannelsFirstMlp(dim, hidden)); });
        moe_layers_.emplace_back(name, moe);
        mlp = nn::AnyModule(TokenMoe(moe));
      } else {
        mlp = nn::AnyModule(Mlp(dim, hidden));
      }
      blocks_->push_back(Block(dim, arch.heads, std::move(mlp)));
    }
    register_module("blocks", blocks_);
    norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({dim}).eps(1e-6)));
    head_ = register_module("head", vit_linear(dim, data.num_classes));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor h = patch_embed_(normalize_(x)).flatten(2).transpose(1, 2);  // [N,P,D]
    if (class_token_) h = torch::cat({cls_token_.expand({h.size(0), 1, h.size(2)}), h}, 1);
    h = h + pos_embed_;
    for (auto& block : *blocks_) h = block->as<Block>()->forward(h);
    h = norm_(h);
    return head_(class_token_ ? h.select(1, 0) : h.mean(1));
  }

  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override { return moe_layers_; }

 private:
  bool class_token_;
  armor::Normalize normalize_{nullptr};
  nn::Conv2d patch_embed_{nullptr};
  torch::Tensor cls_token_, pos_embed_;
  nn::ModuleList blocks_;
  nn::LayerNorm norm_{nullptr};
  nn::Linear head_{nullptr};
  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers_;
};

void register_vit(armor::Registry& registry) {
  registry.add_model(
      "vit", "Vision Transformer (ViT-tiny/small/base or custom) whose chosen blocks' MLPs are top-k MoE layers",
      armor::ParamSchema()
          .string("preset", "vit_small_16",
                  "Architecture as patch/dim/depth/heads/mlp: vit_tiny_16 16/192/12/3/4, vit_small_16 16/384/12/6/4, "
                  "vit_base_16 16/768/12/12/4, vit_small_8 8/384/12/6/4; custom: none (set all five keys)",
                  preset_names())
          .integer("patch_size", 0, "Patch side in pixels; must divide the image size (0 = the preset's)", 0)
          .integer("embed_dim", 0, "Token width D (0 = the preset's)", 0)
          .integer("depth", 0, "Transformer blocks (0 = the preset's)", 0)
          .integer("heads", 0, "Attention heads; must divide embed_dim (0 = the preset's)", 0)
          .real("mlp_ratio", 0.0, "MLP hidden width / embed_dim (0 = the preset's)", 0)
          .boolean("class_token", true, "Classify the class token (false: the mean of the patch tokens)")
          .extend(armor::moe_params(1, "1 = the dense ViT"))
          .string("moe_layers", "", "Comma-separated indices of the blocks whose MLP is a MoE layer, e.g. \"10, 11\"")
          .check([](const armor::Params& p) {
            const Architecture arch = architecture(p);
            const char* keys[] = {"patch_size", "embed_dim", "depth", "heads", "mlp_ratio"};
            const bool missing[] = {arch.patch_size == 0, arch.embed_dim == 0, arch.depth == 0, arch.heads == 0,
                                    arch.mlp_ratio == 0};
            for (std::size_t i = 0; i < 5; ++i) {
              if (missing[i]) p.fail(keys[i], "must be set (> 0) with preset = \"custom\"");
            }
            if (arch.embed_dim % arch.heads != 0) {
              p.fail(p.integer("heads") != 0 ? "heads" : "embed_dim",
                     "gives " + std::to_string(arch.heads) + " heads, which must divide the embedding width " +
                         std::to_string(arch.embed_dim));
            }
            moe_block_indices(p, arch.depth);
          }),
      [](const armor::Params& params, const armor::ModelContext& context) {
        return std::make_shared<VisionTransformer>(params, context);
      });
}

}  // namespace

ARMOR_PLUGIN("vit", "1.0", register_vit)
