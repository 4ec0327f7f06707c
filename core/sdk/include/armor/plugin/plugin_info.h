#pragma once
// The one entry point every plugin exports (see ARMOR_PLUGIN). The host reads api_version before
// anything else and refuses a library built against another version of this SDK.

#include <boost/dll/alias.hpp>

namespace armor {

class Registry;

// Bumped whenever a type that crosses the plugin boundary changes.
inline constexpr int kApiVersion = 4;  // 2: Classifier::expert_ensemble(), dual_model(); 3: Registry is a Catalog;
                                       // 4: Attack::uses_gradients()

// Plain data so that its layout does not depend on the compiler: api_version must stay first.
struct PluginInfo {
  int api_version;
  const char* name;
  const char* version;
  void (*register_components)(Registry& registry);
};

using PluginEntryPoint = const PluginInfo*();

}  // namespace armor

// Declares the plugin's entry point. Use once per plugin library, at namespace scope:
//   ARMOR_PLUGIN("topk", "1.0", register_topk)
// where `void register_topk(armor::Registry&)` adds the plugin's factories.
#define ARMOR_PLUGIN(NAME, VERSION, REGISTER_FUNCTION)                                                \
  namespace armor_plugin_entry {                                                                      \
  inline const ::armor::PluginInfo* info() {                                                          \
    static const ::armor::PluginInfo info{::armor::kApiVersion, NAME, VERSION, &(REGISTER_FUNCTION)}; \
    return &info;                                                                                     \
  }                                                                                                   \
  }                                                                                                   \
  BOOST_DLL_ALIAS(armor_plugin_entry::info, armor_plugin)
