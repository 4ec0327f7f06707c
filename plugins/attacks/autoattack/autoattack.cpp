// attack/autoattack: the AutoAttack ensemble (Croce & Hein 2020), "standard" or a custom list of
// members; armor/attack/auto_attack.h.

#include <sstream>

#include <fmt/format.h>
#include <torch/torch.h>

#include "armor/attack/auto_attack.h"
#include "armor/params/params.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

std::vector<std::string> split_members(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream stream(text);
  std::string name;
  while (std::getline(stream, name, ',')) {
    const auto first = name.find_first_not_of(" \t");
    const auto last = name.find_last_not_of(" \t");
    if (first != std::string::npos) names.push_back(name.substr(first, last - first + 1));
  }
  return names;
}

armor::AutoAttackOptions options_from(const armor::Params& params) {
  armor::AutoAttackOptions options;
  options.eps = params.real("eps");
  options.norm = armor::norm_from_string(params, "norm");
  const std::string version = params.string("version");
  if (version == "custom") options.members = split_members(params.string("attacks"));
  if (version == "plus") {
    options.members = {"apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"};
    options.restarts = 5;
  }
  if (version == "rand") {
    options.members = {"apgd-ce", "apgd-dlr"};
    options.eot_iterations = 20;
  }
  options.seed = static_cast<std::uint64_t>(params.integer("seed"));
  options.apgd_steps = params.integer("apgd_steps");
  options.fab_steps = params.integer("fab_steps");
  options.target_classes = params.integer("target_classes");
  options.square_queries = params.integer("square_queries");
  return options;
}

void check_autoattack(const armor::Params& params) {
  armor::check_linf_eps(params);
  if (params.string("version") != "custom") return;
  const auto names = split_members(params.string("attacks"));
  if (names.empty()) params.fail("attacks", "must list at least one attack when version = \"custom\"");
  const auto& known = armor::AutoAttack::known_members();
  for (const auto& name : names) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      params.fail("attacks", fmt::format("names an unknown attack '{}' (known: {})", name, fmt::join(known, ", ")));
    }
  }
}

void register_autoattack(armor::Registry& registry) {
  registry.add_attack(
      "autoattack",
      "AutoAttack ensemble: standard (APGD-CE, APGD-T, FAB-T, Square), plus, rand or a custom list, L-infinity or L2",
      armor::ParamSchema()
          .real("eps", 8.0 / 255.0, "Radius in [0,1] pixel units (accepts 8/255; Linf: at most 1)", 0)
          .string("norm", "Linf", "Threat model of every member", {"Linf", "L2"})
          .string("version", "standard",
                  "standard: APGD-CE, APGD-T, FAB-T, Square; plus: APGD-CE, APGD-DLR, FAB, Square, APGD-T, "
                  "FAB-T with 5 restarts of APGD-CE, APGD-DLR and FAB; rand: APGD-CE, APGD-DLR with 20 EOT "
                  "iterations; custom: the list in `attacks`",
                  {"standard", "plus", "rand", "custom"})
          .string("attacks", "apgd-ce,apgd-t,fab-t,square",
                  "version = custom: comma-separated members among apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square")
          .integer("seed", 0, "Seed of every member's generator, re-seeded for every batch", 0)
          .integer("apgd_steps", 100, "APGD iterations (per target for APGD-T)", 1)
          .integer("fab_steps", 100, "FAB and FAB-T iterations (per target for FAB-T)", 1)
          .integer("target_classes", 9, "Targets of APGD-T and FAB-T", 1)
          .integer("square_queries", 5000, "Square queries", 1)
          .check(check_autoattack),
      [](const armor::Params& params) { return std::make_shared<armor::AutoAttack>(options_from(params)); });
}

}  // namespace

ARMOR_PLUGIN("autoattack", "1.0", register_autoattack)
