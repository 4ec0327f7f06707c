// model/output_moe: paper 1's output-level Mixture of Experts (ALGORITHMS.md §2), an
// armor::ExpertEnsemble. forward: x [N,C,H,W] in [0,1] -> logits [N,K] = sum over the k routed
// experts e of weights[n,e] * f_e(x_n), each f_e a whole network built by the model plugin `expert`
// with the settings `expert_params` (the body of a TOML inline table, e.g. "depth = 18"; experts are
// dense: an expert schema's num_experts defaults to 1 here, and an expert with MoE layers is
// refused).
//
// The router is the experiment's [gate] on the normalised image (router_input = image) or on a small
// conv stem, conv3x3(C -> router_stem_channels) BN ReLU (router_input = conv_stem):
//   gate linear_router, mode soft: paper 1's Linear router on the flattened image, trained (softmax
//                                  weights; top-1 with a straight-through weight 1, top-k > 1 the
//                                  softmax of the chosen logits)
//   gate linear_router, mode hard: the released code's fixed router (argmax, no gradient to it or
//                                  to the conv stem before it, which stays in evaluation mode)
//   gate topk with router gap_fc:  GAP-FC on the stem's features, paper 2's top-k rules
// Gate and experts form one armor::MoeLayer, reported by moe_layers() as "moe": balancing losses,
// fixed-expert evaluation and routing statistics treat it like any MoE layer, and each expert runs
// once per forward on the images routed to it.

#include <map>
#include <optional>

#include <torch/torch.h>

#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/nn/normalize.h"
#include "armor/params/inline_params.h"
#include "armor/params/moe_params.h"
#include "armor/plugin/registry.h"
#include "armor/util/suggest.h"
#include "output_moe.h"

namespace armor_output_moe {
namespace {

namespace nn = torch::nn;

// The router of the ensemble: the configured gate behind the image normalisation and an optional
// conv stem. forward: x [N,C,H,W] in [0,1] -> the inner gate's GateOutput.
// Behind a fixed gate (linear_router mode = "hard") the stem is part of the fixed router: it runs
// without autograd and always in evaluation mode (its BatchNorm keeps its initial statistics), so
// neither its weights nor its statistics ever change.
class RouterGate : public armor::Gate {
 public:
  RouterGate(armor::Normalize normalize, nn::Sequential stem, std::shared_ptr<armor::Gate> inner)
      : normalize_(register_module("normalize", std::move(normalize))), inner_(std::move(inner)) {
    if (!stem.is_empty()) stem_ = register_module("stem", std::move(stem));
    register_module("gate", inner_);
    if (!stem_.is_empty() && inner_->is_fixed()) stem_->eval();
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    std::optional<torch::NoGradGuard> fixed;
    if (inner_->is_fixed()) fixed.emplace();
    const torch::Tensor h = normalize_(x);
    return inner_->forward(stem_.is_empty() ? h : stem_->forward(h));
  }

  bool is_fixed() const override { return inner_->is_fixed(); }

  void train(bool on = true) override {
    Gate::train(on);
    if (!stem_.is_empty() && inner_->is_fixed()) stem_->eval();
  }

 private:
  armor::Normalize normalize_;
  nn::Sequential stem_{nullptr};
  std::shared_ptr<armor::Gate> inner_;
};

class OutputMoe : public armor::ExpertEnsemble {
 public:
  OutputMoe(const armor::Registry& registry, const armor::Params& params, const armor::ModelContext& context) {
    const armor::DatasetInfo& data = *context.data;
    const std::int64_t num_experts = params.integer("num_experts");
    const std::int64_t k = params.integer("k");
    const std::string& expert_name = params.string("expert");
    const armor::Params expert_params = parse_expert_params(registry, params);
    // The expert's declared constraints (k <= num_experts), which only the host evaluates.
    if (context.check_constraints) {
      context.check_constraints(expert_params, registry.info(armor::PluginKind::model, expert_name).params);
    }

    nn::Sequential stem{nullptr};
    // The gate routes on the stem's features or on the image.
    std::int64_t gate_channels = data.channels;
    if (params.string("router_input") == "conv_stem") {
      gate_channels = params.integer("router_stem_channels");
      stem = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(data.channels, gate_channels, 3).padding(1).bias(false)),
                            nn::BatchNorm2d(gate_channels), nn::ReLU());
    }
    const auto options = armor::MoeLayerOptions(num_experts, k)
                             .in_channels(gate_channels)
                             .input_shape({gate_channels, data.height, data.width});
    const armor::MakeGate make_router = [&](const armor::GateShape& shape) {
      return std::make_shared<RouterGate>(armor::Normalize(data.mean, data.std), stem, context.make_gate(shape));
    };

    moe_ = register_module("moe", armor::MoeLayer(options, make_router, [&](std::int64_t) {
                             std::shared_ptr<armor::Classifier> expert =
                                 registry.model(expert_name)(expert_params, context);
                             if (!expert->moe_layers().empty()) {
                               params.fail("expert_params", "builds a '" + expert_name + "' with MoE layers (" +
                                                                expert->moe_layers().front().first +
                                                                "); the experts of output_moe must be dense networks");
                             }
                             experts_.push_back(expert);
                             return nn::AnyModule(expert);
                           }));
  }

  torch::Tensor forward(const torch::Tensor& x) override { return moe_->forward(x); }

  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override { return {{"moe", moe_}}; }

  std::int64_t num_experts() const override { return moe_->num_experts(); }
  armor::Classifier& expert(std::int64_t index) override {
    TORCH_CHECK(index >= 0 && index < num_experts(), "output_moe: expert must be in [0, ", num_experts(), ") (got ",
                index, ")");
    return *experts_[static_cast<std::size_t>(index)];
  }
  armor::GateOutput route(const torch::Tensor& x) override { return moe_->gate().forward(x); }
  torch::Tensor forward_routed(const torch::Tensor& x, const armor::GateOutput& routing) override {
    return moe_->forward_routed(x, routing);
  }

  static armor::Params parse_expert_params(const armor::Registry& registry, const armor::Params& params) {
    const std::string& expert_name = params.string("expert");
    const armor::ComponentInfo* info = registry.find(armor::PluginKind::model, expert_name);
    if (info == nullptr) {
      params.fail("expert", "must name a registered model plugin" + registered_models(registry, expert_name));
    }
    if (expert_name == "output_moe" || expert_name == "dual_moe") {
      params.fail("expert", "must be a dense network such as resnet or vit");
    }
    // Experts are dense by default: paper 1's experts are plain networks.
    std::map<std::string, armor::ParamValue> preset;
    if (const armor::ParamSpec* spec = info->params.find("num_experts");
        spec != nullptr && spec->type == armor::ParamType::integer) {
      preset["num_experts"] = std::int64_t{1};
    }
    return armor::parse_inline_params(params.string("expert_params"), info->params, params.section() + ".expert_params",
                                      params.origin("expert_params"), preset);
  }

 private:
  // " (did you mean 'resnet'?); registered models: moe_cnn, resnet, ..."
  static std::string registered_models(const armor::Registry& registry, const std::string& name) {
    const std::vector<std::string> names = registry.names(armor::PluginKind::model);
    std::string list;
    for (const std::string& model : names) list += (list.empty() ? "" : ", ") + model;
    return armor::did_you_mean(name, names) + "; registered models: " + list;
  }

  armor::MoeLayer moe_{nullptr};
  std::vector<std::shared_ptr<armor::Classifier>> experts_;
};

}  // namespace

armor::ParamSchema output_moe_params(const armor::Registry& registry) {
  return armor::ParamSchema()
      .string("expert", "resnet", "Model plugin of every expert (a dense network: resnet, vit, ...)")
      .string(
          "expert_params", "",
          "The experts' parameters as the body of a TOML inline table, e.g. \"depth = 10, width_multiplier = 0.25\" "
          "(see `armor plugins show model/<expert>`; num_experts defaults to 1)")
      .extend(armor::moe_params(4, "whole networks"))
      .string("router_input", "image",
              "What the [gate] routes on: image (the normalised image; linear_router is paper 1's router) or "
              "conv_stem (conv3x3 + BN + ReLU features; e.g. gate topk with router gap_fc)",
              {"image", "conv_stem"})
      .integer("router_stem_channels", 16, "Channels of the router's conv stem (router_input = conv_stem)", 1)
      .check([&registry](const armor::Params& p) { OutputMoe::parse_expert_params(registry, p); });
}

std::shared_ptr<armor::ExpertEnsemble> make_output_moe(const armor::Registry& registry, const armor::Params& params,
                                                       const armor::ModelContext& context) {
  return std::make_shared<OutputMoe>(registry, params, context);
}

void register_output_moe(armor::Registry& registry) {
  // The factory and checks keep a reference to `registry`: the host's registry outlives every model.
  registry.add_model(
      "output_moe",
      "Paper 1's output-level MoE: E whole networks (resnet, vit, ...) combined by a trained or fixed router",
      output_moe_params(registry), [&registry](const armor::Params& params, const armor::ModelContext& context) {
        return make_output_moe(registry, params, context);
      });
}

}  // namespace armor_output_moe
