#pragma once
// Registry: the run side's table of component factories, keyed by (kind, name). Plugins add to it from
// their entry point; the host looks components up by the names an experiment gives. Each entry
// declares its parameters so that configs are validated and `armor plugins show` documents them.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "armor/params/param_schema.h"
#include "armor/params/params.h"
#include "armor/plugin/catalog.h"

namespace armor {

class Classifier;
class Gate;
class BalancingLoss;
class Attack;
class Trainer;
struct DatasetSplits;
struct DatasetShape;
struct ModelContext;
struct GateShape;

using DatasetFactory = std::function<std::shared_ptr<DatasetSplits>(const Params&)>;
// A dataset's classes, image shape and split sizes without its images (headers, file sizes, folder
// listings): `armor run` calls it while planning, to check [data] limits and build the model before
// anything is recorded. Errors as the factory's (ConfigError through params.fail, DataError).
using DatasetShapeProbe = std::function<DatasetShape(const Params&)>;
using ModelFactory = std::function<std::shared_ptr<Classifier>(const Params&, const ModelContext&)>;
using GateFactory = std::function<std::shared_ptr<Gate>(const Params&, const GateShape&)>;
using BalancingFactory = std::function<std::shared_ptr<BalancingLoss>(const Params&)>;
using AttackFactory = std::function<std::shared_ptr<Attack>(const Params&)>;
using TrainerFactory = std::function<std::shared_ptr<Trainer>(const Params&)>;

class Registry : public Catalog {
 public:
  void add_dataset(std::string name, std::string summary, ParamSchema params, DatasetFactory make);
  // With a shape probe: planning checks train_limit / test_limit against the split sizes and
  // builds the model from the probed shape (a dataset without one skips these checks).
  void add_dataset(std::string name, std::string summary, ParamSchema params, DatasetFactory make,
                   DatasetShapeProbe shape);
  void add_model(std::string name, std::string summary, ParamSchema params, ModelFactory make);
  void add_gate(std::string name, std::string summary, ParamSchema params, GateFactory make);
  void add_balancing(std::string name, std::string summary, ParamSchema params, BalancingFactory make);
  void add_attack(std::string name, std::string summary, ParamSchema params, AttackFactory make);
  void add_trainer(std::string name, std::string summary, ParamSchema params, TrainerFactory make);

  const DatasetFactory& dataset(const std::string& name) const;
  // The dataset's shape probe; nullptr when it registered none. ConfigError when unknown.
  const DatasetShapeProbe* dataset_shape(const std::string& name) const;
  const ModelFactory& model(const std::string& name) const;
  const GateFactory& gate(const std::string& name) const;
  const BalancingFactory& balancing(const std::string& name) const;
  const AttackFactory& attack(const std::string& name) const;
  const TrainerFactory& trainer(const std::string& name) const;

  // The library whose entry point is running; entries added meanwhile record it. Set by the loader.
  void set_registering_library(std::string library) { registering_library_ = std::move(library); }

 private:
  using Factory =
      std::variant<DatasetFactory, ModelFactory, GateFactory, BalancingFactory, AttackFactory, TrainerFactory>;
  struct Entry {
    Factory make;
    DatasetShapeProbe shape;  // datasets only; empty = none
  };
  void add(PluginKind kind, std::string name, std::string summary, ParamSchema params, Factory make);
  const Entry& entry(PluginKind kind, const std::string& name) const;
  template <typename F>
  const F& factory(PluginKind kind, const std::string& name) const;

  std::map<std::pair<PluginKind, std::string>, Entry> entries_;
  std::string registering_library_ = "built-in";
};

}  // namespace armor
