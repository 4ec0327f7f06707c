#include "armor/plugin/catalog.h"

#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor {

const std::vector<PluginKind>& all_plugin_kinds() {
  static const std::vector<PluginKind> kinds{PluginKind::dataset,   PluginKind::model,  PluginKind::gate,
                                             PluginKind::balancing, PluginKind::attack, PluginKind::trainer};
  return kinds;
}

const char* to_string(PluginKind kind) {
  switch (kind) {
    case PluginKind::dataset: return "dataset";
    case PluginKind::model: return "model";
    case PluginKind::gate: return "gate";
    case PluginKind::balancing: return "balancing";
    case PluginKind::attack: return "attack";
    case PluginKind::trainer: return "trainer";
  }
  return "?";
}

PluginKind plugin_kind_from_string(const std::string& text) {
  std::vector<std::string> names;
  for (const PluginKind kind : all_plugin_kinds()) {
    if (text == to_string(kind)) return kind;
    names.emplace_back(to_string(kind));
  }
  throw UsageError("unknown plugin kind '" + text + "'" + did_you_mean(text, names) +
                   "; kinds: dataset, model, gate, balancing, attack, trainer");
}

void Catalog::add(ComponentInfo info) {
  const auto key = std::make_pair(info.kind, info.name);
  if (const auto it = entries_.find(key); it != entries_.end()) {
    throw PluginError(info.library, std::string("duplicate ") + to_string(info.kind) + " '" + info.name +
                                        "' (already registered by " + it->second.library + ")");
  }
  if (info.name.empty())
    throw PluginError(info.library, std::string("a ") + to_string(info.kind) + " with an empty name");
  entries_.emplace(key, std::move(info));
}

const ComponentInfo* Catalog::find(PluginKind kind, const std::string& name) const {
  const auto it = entries_.find({kind, name});
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::string> Catalog::names(PluginKind kind) const {
  std::vector<std::string> names;
  for (const auto& [key, info] : entries_) {
    if (key.first == kind) names.push_back(key.second);
  }
  return names;
}

const ComponentInfo& Catalog::info(PluginKind kind, const std::string& name) const {
  if (const ComponentInfo* found = find(kind, name)) return *found;
  const std::vector<std::string> known = names(kind);
  std::string list;
  for (const auto& known_name : known) list += (list.empty() ? "" : ", ") + known_name;
  throw ConfigError(std::string("unknown ") + to_string(kind) + " '" + name + "'" + did_you_mean(name, known) +
                    "; registered: " + (list.empty() ? "none (were the plugins found? see --plugin-path)" : list));
}

std::vector<const ComponentInfo*> Catalog::components() const {
  std::vector<const ComponentInfo*> all;
  for (const auto& [key, info] : entries_) all.push_back(&info);
  return all;
}

}  // namespace armor
