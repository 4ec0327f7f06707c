#pragma once
// Catalog: the components armor knows, by (kind, name), with their schemas but without factories.
// The Registry (registry.h) is a Catalog that can also build them; the host composes configs
// against a Catalog, which it may read from plugin manifests without loading any plugin.

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "armor/plugin/component_info.h"

namespace armor {

class Catalog {
 public:
  virtual ~Catalog() = default;

  // PluginError naming info.library on a duplicate (kind, name) or an empty name.
  void add(ComponentInfo info);

  // nullptr when absent.
  const ComponentInfo* find(PluginKind kind, const std::string& name) const;
  // ConfigError "unknown gate 'topkk' (did you mean 'topk'?); registered: topk" when absent.
  const ComponentInfo& info(PluginKind kind, const std::string& name) const;
  std::vector<const ComponentInfo*> components() const;  // sorted by kind, then name
  std::vector<std::string> names(PluginKind kind) const;
  // Whether every schema's cross-parameter checks are here (false for a catalog read from
  // manifests: checks are code, and run where the plugins are loaded).
  virtual bool has_checks() const { return true; }

 private:
  std::map<std::pair<PluginKind, std::string>, ComponentInfo> entries_;
};

}  // namespace armor
