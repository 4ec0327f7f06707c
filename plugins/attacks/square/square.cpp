// attack/square: the score-based Square Attack in L-infinity or L2 (Andriushchenko et al. 2020);
// armor/attack/square.h.

#include <torch/torch.h>

#include "armor/attack/square.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

void register_square(armor::Registry& registry) {
  registry.add_attack(
      "square", "Square Attack, score-based, L-infinity or L2 (Andriushchenko et al. 2020)",
      armor::ParamSchema()
          .real("eps", 8.0 / 255.0, "Radius in [0,1] pixel units (accepts 8/255; Linf: at most 1)", 0)
          .string("norm", "Linf", "Threat model", {"Linf", "L2"})
          .integer("queries", 5000, "Queries per restart", 1)
          .real("p_init", 0.8, "Initial share of the image a square covers", 0, 1)
          .integer("restarts", 1, "Restarts, each on the images still correctly classified", 1)
          .boolean("rescale_schedule", false, "Rescale the p schedule to the query budget (AutoAttack: false)")
          .integer("seed", 0, "Seed of the attack's own generator, re-seeded for every batch", 0)
          .check(armor::check_linf_eps),
      [](const armor::Params& params) {
        return std::make_shared<armor::Square>(armor::SquareOptions()
                                                   .eps(params.real("eps"))
                                                   .norm(armor::norm_from_string(params, "norm"))
                                                   .queries(params.integer("queries"))
                                                   .p_init(params.real("p_init"))
                                                   .restarts(params.integer("restarts"))
                                                   .rescale_schedule(params.boolean("rescale_schedule"))
                                                   .seed(static_cast<std::uint64_t>(params.integer("seed"))));
      });
}

}  // namespace

ARMOR_PLUGIN("square", "1.0", register_square)
