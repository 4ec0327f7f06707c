// Entry point of the output_moe library: model/output_moe and model/dual_moe.

#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"
#include "output_moe.h"

namespace {

void register_models(armor::Registry& registry) {
  armor_output_moe::register_output_moe(registry);
  armor_output_moe::register_dual_moe(registry);
}

}  // namespace

ARMOR_PLUGIN("output_moe", "1.0", register_models)
