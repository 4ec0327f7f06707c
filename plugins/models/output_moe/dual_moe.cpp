// model/dual_moe: paper 1's dual model (ALGORITHMS.md §2), an armor::DualModel.
// forward: x [N,C,H,W] in [0,1] -> logits [N,K] = (1 - alpha) * F_S(x) + alpha * F_R(x), F_S ("standard")
// and F_R ("robust") two output_moe ensembles of the same configuration (every output_moe key applies
// to both; a single network per member is num_experts = 1). Their MoE layers are reported as
// "standard.moe" and "robust.moe"; standard() and robust() give each member alone, for the JTDMoE
// trainer (which updates one member per step) and for scoring each member.

#include <torch/torch.h>

#include "armor/nn/dual_model.h"
#include "armor/plugin/registry.h"
#include "output_moe.h"

namespace armor_output_moe {
namespace {

class DualMoe : public armor::DualModel {
 public:
  DualMoe(const armor::Registry& registry, const armor::Params& params, const armor::ModelContext& context)
      : alpha_(params.real("alpha")) {
    standard_ = register_module("standard", make_output_moe(registry, params, context));
    robust_ = register_module("robust", make_output_moe(registry, params, context));
  }

  torch::Tensor forward(const torch::Tensor& x) override {
    return armor::dual_logits(standard_->forward(x), robust_->forward(x), alpha_);
  }

  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override {
    std::vector<std::pair<std::string, armor::MoeLayer>> layers;
    for (auto& [name, layer] : standard_->moe_layers()) layers.emplace_back("standard." + name, layer);
    for (auto& [name, layer] : robust_->moe_layers()) layers.emplace_back("robust." + name, layer);
    return layers;
  }

  armor::Classifier& standard() override { return *standard_; }
  armor::Classifier& robust() override { return *robust_; }
  double alpha() const override { return alpha_; }

 private:
  double alpha_;
  std::shared_ptr<armor::ExpertEnsemble> standard_, robust_;
};

}  // namespace

void register_dual_moe(armor::Registry& registry) {
  registry.add_model("dual_moe", "Paper 1's dual model: (1 - alpha) * standard MoE + alpha * robust MoE on logits",
                     armor::ParamSchema()
                         .real("alpha", 0.7, "Weight of the robust member F_R in the logits", 0, 1)
                         .extend(output_moe_params(registry)),
                     [&registry](const armor::Params& params, const armor::ModelContext& context) {
                       return std::make_shared<DualMoe>(registry, params, context);
                     });
}

}  // namespace armor_output_moe
