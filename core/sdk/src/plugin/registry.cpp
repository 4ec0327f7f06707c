#include "armor/plugin/registry.h"

#include "armor/data/dataset.h"
#include "armor/error.h"

namespace armor {

void Registry::add(PluginKind kind, std::string name, std::string summary, ParamSchema params, Factory make) {
  const auto key = std::make_pair(kind, name);
  Catalog::add(ComponentInfo{kind, std::move(name), std::move(summary), std::move(params), registering_library_});
  entries_.emplace(key, Entry{std::move(make), {}});
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

const Registry::Entry& Registry::entry(PluginKind kind, const std::string& name) const {
  info(kind, name);  // the unknown-component error, with suggestions
  return entries_.at({kind, name});
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
const GateFactory& Registry::gate(const std::string& name) const {
  return factory<GateFactory>(PluginKind::gate, name);
}
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
