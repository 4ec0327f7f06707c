#pragma once
// What a plugin declares about one component, apart from its factory: kind, name, one-line summary,
// parameter schema and the library it came from. Torch-free, so that the host can compose and
// check configs from plugin manifests without loading LibTorch (see catalog.h).

#include <string>
#include <vector>

#include "armor/params/param_schema.h"

namespace armor {

enum class PluginKind { dataset, model, gate, balancing, attack, trainer };
const char* to_string(PluginKind kind);
// "gate" -> PluginKind::gate; UsageError naming the text (with a suggestion) otherwise.
PluginKind plugin_kind_from_string(const std::string& text);
const std::vector<PluginKind>& all_plugin_kinds();

struct ComponentInfo {
  PluginKind kind = PluginKind::model;
  std::string name;
  std::string summary;  // one line for `armor plugins`
  ParamSchema params;
  std::string library;  // the shared library that registered it ("built-in" for the SDK's own)
};

}  // namespace armor
