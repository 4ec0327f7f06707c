// attack/apgd: Auto-PGD (Croce & Hein 2020): APGD-CE, APGD-DLR and the targeted APGD-T, with the
// paper's checkpoint schedule, momentum and step-size halving (armor/attack/apgd.h).

#include <torch/torch.h>

#include "armor/attack/apgd.h"
#include "armor/params/params.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

void register_apgd(armor::Registry& registry) {
  registry.add_attack(
      "apgd", "Auto-PGD: APGD-CE, APGD-DLR, targeted APGD-T (Croce & Hein 2020)",
      armor::ParamSchema()
          .real("eps", 8.0 / 255.0, "Radius in [0,1] pixel units (accepts 8/255; Linf: at most 1)", 0)
          .string("norm", "Linf", "Threat model", {"Linf", "L2"})
          .integer("steps", 100, "Iterations per restart (and per target)", 1)
          .integer("restarts", 1, "Restarts, each on the images still correctly classified", 1)
          .string("loss", "ce", "Untargeted loss: cross-entropy or DLR", {"ce", "dlr"})
          .boolean("targeted", false, "APGD-T: targeted DLR loss towards each of the top target_classes classes")
          .integer("target_classes", 9, "APGD-T: targets = the 2nd..(n+1)th highest clean logits", 1)
          .real("rho", 0.75, "Halve the step if the loss rose in at most this share of the steps", 0, 1)
          .integer("eot_iterations", 1, "EOT: gradient averaged over this many passes (randomized models)", 1)
          .integer("seed", 0, "Seed of the attack's own generator, re-seeded for every batch", 0)
          .check(armor::check_linf_eps),
      [](const armor::Params& params) {
        return std::make_shared<armor::Apgd>(armor::ApgdOptions()
                                                 .eps(params.real("eps"))
                                                 .norm(armor::norm_from_string(params, "norm"))
                                                 .steps(params.integer("steps"))
                                                 .restarts(params.integer("restarts"))
                                                 .loss(armor::attack_loss_from_string(params, "loss"))
                                                 .targeted(params.boolean("targeted"))
                                                 .target_classes(params.integer("target_classes"))
                                                 .rho(params.real("rho"))
                                                 .eot_iterations(params.integer("eot_iterations"))
                                                 .seed(static_cast<std::uint64_t>(params.integer("seed"))));
      });
}

}  // namespace

ARMOR_PLUGIN("apgd", "1.0", register_apgd)
