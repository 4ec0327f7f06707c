#pragma once
// Building shipped model and gate plugins in tests, as the host loads them: the registry of the
// built plugins folder (kept alive for the whole test program) and params = defaults + changes.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "armor/config/declared_constraints.h"
#include "armor/data/dataset.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/params/params.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"

namespace armor_test {

using Changes = std::vector<std::pair<std::string, armor::ParamValue>>;

inline armor::Registry& plugin_registry() {
  static armor::Registry* registry = [] {
    auto* r = new armor::Registry();  // never freed: the plugins it loaded stay loaded
    armor::PluginLoader loader(*r);
    loader.load_search_path({}, {std::string(ARMOR_TEST_BINARY_DIR) + "/plugins"});
    return r;
  }();
  return *registry;
}

// The plugin's defaults, then `changes` (origin "test"); the schema's declared constraints and
// checks run, as the host runs them.
inline armor::Params plugin_params(armor::PluginKind kind, const std::string& name, const Changes& changes = {}) {
  armor::Params p(to_string(kind));
  const auto& schema = plugin_registry().info(kind, name).params;
  for (const auto& spec : schema.specs()) p.set(spec.name, spec.default_value, "default");
  for (const auto& [key, value] : changes) p.set(key, value, "test");
  armor::check_declared_constraints(p, schema);
  for (const auto& check : schema.checks()) check(p);
  return p;
}

// A model whose MoE layers take gate `gate_name` with `gate_changes`.
inline std::shared_ptr<armor::Classifier> make_model(const std::string& name, const Changes& changes,
                                                     const armor::DatasetInfo& data,
                                                     const std::string& gate_name = "topk",
                                                     const Changes& gate_changes = {}) {
  armor::ModelContext context;
  context.data = &data;
  context.check_constraints = armor::check_declared_constraints;
  context.make_gate = [gate_name, gate_changes](const armor::GateShape& shape) {
    return plugin_registry().gate(gate_name)(plugin_params(armor::PluginKind::gate, gate_name, gate_changes), shape);
  };
  return plugin_registry().model(name)(plugin_params(armor::PluginKind::model, name, changes), context);
}

// Experts of an output-level MoE (model/output_moe, model/dual_moe) small enough for a few CPU
// batches: ResNet-10 with one stage of 8 channels.
inline const std::string kSmallResnetExpert = "depth = 10, stages = 1, width_multiplier = 0.125";

// An output-level MoE's params: `experts` such experts, then `extra`.
inline Changes small_ensemble(std::int64_t experts, const Changes& extra = {}) {
  Changes changes{{"expert", std::string("resnet")}, {"expert_params", kSmallResnetExpert}, {"num_experts", experts}};
  changes.insert(changes.end(), extra.begin(), extra.end());
  return changes;
}

}  // namespace armor_test
