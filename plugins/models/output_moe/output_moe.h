#pragma once
// The output_moe plugin library: model/output_moe (paper 1's output-level MoE of whole networks) and
// model/dual_moe (paper 1's dual model of two such MoEs). Shared between the two models' files.

#include <memory>

#include "armor/nn/expert_ensemble.h"
#include "armor/params/param_schema.h"
#include "armor/params/params.h"

namespace armor {
class Registry;
struct ModelContext;
}  // namespace armor

namespace armor_output_moe {

// The parameters of an output_moe (dual_moe declares them too, for both of its members). `registry`
// is the one the plugin registers into: the checks look the expert's plugin and parameters up in it.
armor::ParamSchema output_moe_params(const armor::Registry& registry);

std::shared_ptr<armor::ExpertEnsemble> make_output_moe(const armor::Registry& registry, const armor::Params& params,
                                                       const armor::ModelContext& context);

void register_output_moe(armor::Registry& registry);
void register_dual_moe(armor::Registry& registry);

}  // namespace armor_output_moe
