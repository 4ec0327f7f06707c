#include "armor/plugin/registry.h"

#include "armor/data/dataset.h"
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

void Registry::add(PluginKind kind, std::string name, std::string summary, ParamSchema params, Factory make) {
  const auto key = std::make_pair(kind, name);
  if (const auto it = entries_.find(key); it != entries_.end()) {
    throw PluginError(registering_library_, std::string("duplicate ") + to_string(kind) + " '" + name +
                                                "' (already registered by " + it->second.info.library + ")");
  }
  if (name.empty()) throw PluginError(registering_library_, std::string("a ") + to_string(kind) + " with an empty name");
  ComponentInfo info{kind, std::move(name), std::move(summary), std::move(params), registering_library_};
  entries_.emplace(key, Entry{std::move(info), std::move(make), {}});
}

void Registry::add_dataset(std::string name, std::string summary, ParamSchema params, DatasetFactory make) {
  add(PluginKind::dataset, std::move(name), std::move(summary), std::move(params), std::move(make));
}
void Registry::add_dataset(std::string name, std::string summary, ParamSchema params, DatasetFactory make,
                           DatasetShapeProbe shape) {
  const std::string key = name;
  add(PluginKind::dataset, std::move(name), std::move(summary), std::move(params), std::move(make));
  entries_.at({PluginKind::dataset, key}).shape = std::move(shape);
}
void Registry::add_model(std::string name, std::string summary, ParamSchema params, ModelFactory make) {
  add(PluginKind::model, std::move(name), std::move(summary), std::move(params), std::move(make));
}
void Registry::add_gate(std::string name, std::string summary, ParamSchema params, GateFactory make) {
  add(PluginKind::gate, std::move(name), std::move(summary), std::move(params), std::move(make));
}
void Registry::add_balancing(std::string name, std::string summary, ParamSchema params, BalancingFactory make) {
  add(PluginKind::balancing, std::move(name), std::move(summary), std::move(params), std::move(make));
}
void Registry::add_attack(std::string name, std::string summary, ParamSchema params, AttackFactory make) {
  add(PluginKind::attack, std::move(name), std::move(summary), std::move(params), std::move(make));
}
void Registry::add_trainer(std::string name, std::string summary, ParamSchema params, TrainerFactory make) {
  add(PluginKind::trainer, std::move(name), std::move(summary), std::move(params), std::move(make));
}

const ComponentInfo* Registry::find(PluginKind kind, const std::string& name) const {
  const auto it = entries_.find({kind, name});
  return it == entries_.end() ? nullptr : &it->second.info;
}

std::vector<std::string> Registry::names(PluginKind kind) const {
  std::vector<std::string> names;
  for (const auto& [key, entry] : entries_) {
    if (key.first == kind) names.push_back(key.second);
  }
  return names;
}

const Registry::Entry& Registry::entry(PluginKind kind, const std::string& name) const {
  const auto it = entries_.find({kind, name});
  if (it != entries_.end()) return it->second;
  const std::vector<std::string> known = names(kind);
  std::string list;
  for (const auto& known_name : known) list += (list.empty() ? "" : ", ") + known_name;
  throw ConfigError(std::string("unknown ") + to_string(kind) + " '" + name + "'" + did_you_mean(name, known) +
                    "; registered: " + (list.empty() ? "none (were the plugins found? see --plugin-path)" : list));
}

const ComponentInfo& Registry::info(PluginKind kind, const std::string& name) const {
  return entry(kind, name).info;
}

std::vector<const ComponentInfo*> Registry::components() const {
  std::vector<const ComponentInfo*> all;
  for (const auto& [key, entry] : entries_) all.push_back(&entry.info);
  return all;
}

template <typename F>
const F& Registry::factory(PluginKind kind, const std::string& name) const {
  return std::get<F>(entry(kind, name).make);
}

const DatasetFactory& Registry::dataset(const std::string& name) const {
  return factory<DatasetFactory>(PluginKind::dataset, name);
}
const DatasetShapeProbe* Registry::dataset_shape(const std::string& name) const {
  const Entry& found = entry(PluginKind::dataset, name);
  return found.shape ? &found.shape : nullptr;
}
const ModelFactory& Registry::model(const std::string& name) const {
  return factory<ModelFactory>(PluginKind::model, name);
}
const GateFactory& Registry::gate(const std::string& name) const { return factory<GateFactory>(PluginKind::gate, name); }
const BalancingFactory& Registry::balancing(const std::string& name) const {
  return factory<BalancingFactory>(PluginKind::balancing, name);
}
const AttackFactory& Registry::attack(const std::string& name) const {
  return factory<AttackFactory>(PluginKind::attack, name);
}
const TrainerFactory& Registry::trainer(const std::string& name) const {
  return factory<TrainerFactory>(PluginKind::trainer, name);
}

}  // namespace armor
