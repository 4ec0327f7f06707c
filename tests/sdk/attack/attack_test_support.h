#pragma once
// Helpers shared by the attack tests: the shipped plugins loaded as the host loads them, and a
// component's Params filled with its declared defaults plus the test's values.

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "armor/attack/attack.h"
#include "armor/nn/classifier.h"
#include "armor/params/params.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"

namespace armor_test {

// The reference images of tests/fixtures/autoattack were computed with AVX2 kernels (its README).
// Unpinned, OpenBLAS, ATen and oneDNN pick the widest kernels the CPU has, and APGD's step sizes turn
// their last-bit differences into images 0.01-0.1 apart: the image comparisons would fail on some
// machines and pass on others. CTest sets these (tests/CMakeLists.txt); a direct run must too.
inline void require_reference_kernels() {
  std::string wrong;
  for (const auto& [name, value] : std::vector<std::pair<const char*, std::string>>{
           {"OPENBLAS_CORETYPE", "Haswell"}, {"ATEN_CPU_CAPABILITY", "avx2"}, {"ONEDNN_MAX_CPU_ISA", "AVX2"}}) {
    const char* set = std::getenv(name);
    if (set == nullptr || value != set)
      wrong += " " + std::string(name) + "=" + (set ? set : "(unset)") + " (want " + value + ")";
  }
  if (!wrong.empty())
    throw std::runtime_error("the reference images need the CPU kernels pinned (run through ctest):" + wrong);
}

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
