// attack/fab: FAB in L-infinity or L2 (Croce & Hein 2020), targeted or not; armor/attack/fab.h.

#include <torch/torch.h>

#include "armor/attack/fab.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

void register_fab(armor::Registry& registry) {
  registry.add_attack(
      "fab", "FAB: fast adaptive boundary attack, targeted (FAB-T) or not, L-infinity or L2 (Croce & Hein 2020)",
      armor::ParamSchema()
          .real("eps", 8.0 / 255.0, "Radius: a point counts only within it (Linf: at most 1)", 0)
          .string("norm", "Linf", "Threat model", {"Linf", "L2"})
          .integer("steps", 100, "Iterations per target", 1)
          .integer("restarts", 1, "Restarts per target (later ones start at random)", 1)
          .boolean("targeted", true, "FAB-T (each of target_classes in turn); false: untargeted FAB")
          .integer("target_classes", 9, "FAB-T's targets = the 2nd..(n+1)th highest clean logits", 1)
          .real("alpha_max", 0.1, "Largest weight of the projection from the original", 0, 1)
          .real("eta", 1.05, "Overshoot", 1)
          .real("beta", 0.9, "Backward step towards the original after a success", 0, 1)
          .integer("seed", 0, "Seed of the random restarts' generator", 0)
          .check(armor::check_linf_eps),
      [](const armor::Params& params) {
        return std::make_shared<armor::Fab>(armor::FabOptions()
                                                .eps(params.real("eps"))
                                                .norm(armor::norm_from_string(params, "norm"))
                                                .steps(params.integer("steps"))
                                                .restarts(params.integer("restarts"))
                                                .targeted(params.boolean("targeted"))
                                                .target_classes(params.integer("target_classes"))
                                                .alpha_max(params.real("alpha_max"))
                                                .eta(params.real("eta"))
                                                .beta(params.real("beta"))
                                                .seed(static_cast<std::uint64_t>(params.integer("seed"))));
      });
}

}  // namespace

ARMOR_PLUGIN("fab", "1.0", register_fab)
