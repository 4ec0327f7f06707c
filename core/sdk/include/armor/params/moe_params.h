#pragma once
// The settings of a Mixture-of-Experts model, declared once for every MoE model plugin (moe_cnn,
// resnet, vit, output_moe, dual_moe): each plugin's schema extends it.

#include <cstdint>
#include <string>

#include "armor/params/param_schema.h"

namespace armor {

// num_experts (integer >= 1, default `default_num_experts`), k (integer >= 1, default 1) and the
// constraint "k <= num_experts". `num_experts_note` says what num_experts = 1 means for the plugin
// ("1 = the plain ResNet"); it is appended to the doc. armor::MoeLayerOptions takes the two values.
ParamSchema moe_params(std::int64_t default_num_experts = 4, const std::string& num_experts_note = "");

}  // namespace armor
