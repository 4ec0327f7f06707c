#pragma once
// Helpers shared by the attack tests: the shipped plugins loaded as the host loads them, and a
// component's Params filled with its declared defaults plus the test's values.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "armor/attack/attack.h"
#include "armor/nn/classifier.h"
#include "armor/params/params.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"

namespace armor_test {

inline armor::Registry& shipped_registry() {
  static armor::Registry* registry = [] {
    auto* r = new armor::Registry();  // never destroyed: plugin code must outlive it
    armor::PluginLoader loader(*r);
    loader.load_search_path({}, {std::string(ARMOR_TEST_BINARY_DIR) + "/plugins"});
    return r;
  }();
  return *registry;
}

// The component's defaults, then `values` (name, value) on top.
inline armor::Params component_params(armor::PluginKind kind, const std::string& name,
                                      const std::vector<std::pair<std::string, armor::ParamValue>>& values) {
  const armor::ComponentInfo& info = shipped_registry().info(kind, name);
  armor::Params params(std::string(armor::to_string(kind)));
  params.set("name", name, "test");
  for (const armor::ParamSpec& spec : info.params.specs()) params.set(spec.name, spec.default_value, "default");
  for (const auto& [key, value] : values) params.set(key, value, "test");
  return params;
}

inline std::shared_ptr<armor::Attack> make_attack(
    const std::string& name, const std::vector<std::pair<std::string, armor::ParamValue>>& values) {
  const armor::Params params = component_params(armor::PluginKind::attack, name, values);
  for (const auto& check : shipped_registry().info(armor::PluginKind::attack, name).params.checks()) check(params);
  return shipped_registry().attack(name)(params);
}

}  // namespace armor_test
