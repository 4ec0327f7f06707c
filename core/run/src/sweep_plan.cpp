#include "armor/run/sweep_plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/config/config.h"
#include "armor/config/override.h"
#include "armor/config/sweep.h"
#include "armor/data/dataset.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/plugin/registry.h"
#include "armor/query/where_evaluate.h"
#include "armor/run/evaluation.h"
#include "armor/run/run_executor.h"
#include "armor/util/suggest.h"

namespace armor::app {
namespace {

struct FileSweep {
  std::vector<std::string> overrides;
  std::vector<std::string> constraints;
  SweepSettings settings;
};

const std::vector<std::string> kSweepKeys{"overrides", "constraint", "sweeper", "trials", "seed", "early_stop"};

EarlyStop early_stop_from(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr) throw ConfigError(origin_of(node) + ": sweep.early_stop must be a table { metric = ..., mode = ..., eta = ..., min_epochs = ... }");
  EarlyStop stop;
  for (const auto& [key, value] : *table) {
    const std::string name(key.str());
    const std::string where = origin_of(value) + ": sweep.early_stop." + name;
    if (name == "metric" && value.is_string()) {
      stop.metric = value.as_string()->get();
    } else if (name == "mode" && value.is_string() && (value.as_string()->get() == "max" || value.as_string()->get() == "min")) {
      stop.maximize = value.as_string()->get() == "max";
    } else if (name == "eta" && value.is_integer() && value.as_integer()->get() >= 2) {
      stop.eta = static_cast<int>(value.as_integer()->get());
    } else if (name == "min_epochs" && value.is_integer() && value.as_integer()->get() >= 1) {
      stop.min_epochs = static_cast<int>(value.as_integer()->get());
    } else if (name == "metric" || name == "mode" || name == "eta" || name == "min_epochs") {
      throw ConfigError(where + " must be " +
                        (name == "metric" ? "a string (an epoch metric)" : name == "mode" ? "\"max\" or \"min\""
                                                        : name == "eta" ? "an integer >= 2" : "an integer >= 1"));
    } else {
      throw ConfigError(where + " is not a key of early_stop" + did_you_mean(name, {"metric", "mode", "eta", "min_epochs"}));
    }
  }
  return stop;
}

std::vector<std::string> string_list(const toml::node& node, const std::string& key) {
  std::vector<std::string> values;
  if (const auto* text = node.as_string()) return {text->get()};
  const toml::array* list = node.as_array();
  if (list == nullptr) throw ConfigError(origin_of(node) + ": sweep." + key + " must be a string or an array of strings");
  for (const toml::node& entry : *list) {
    const auto* text = entry.as_string();
    if (text == nullptr) throw ConfigError(origin_of(entry) + ": sweep." + key + " entries must be strings");
    values.push_back(text->get());
  }
  return values;
}

// The [sweep] table of the experiment: `overrides = [...]` in the --multirun grammar, and
// `constraint = "..."` (or a list of them).
FileSweep file_sweep(const Config& config) {
  FileSweep sweep;
  const toml::node* node = config.table().get("sweep");
  if (node == nullptr) return sweep;
  const toml::table* table = node->as_table();
  if (table == nullptr) throw ConfigError(origin_of(*node) + ": sweep must be a table ([sweep])");
  for (const auto& [key, value] : *table) {
    if (key.str() == "overrides") {
      sweep.overrides = string_list(value, "overrides");
    } else if (key.str() == "constraint") {
      sweep.constraints = string_list(value, "constraint");
    } else if (key.str() == "sweeper") {
      if (!value.is_string()) throw ConfigError(origin_of(value) + ": sweep.sweeper must be \"grid\" or \"random\"");
      sweep.settings.sweeper = value.as_string()->get();
    } else if (key.str() == "trials" || key.str() == "seed") {
      if (!value.is_integer()) throw ConfigError(origin_of(value) + ": sweep." + std::string(key.str()) + " must be an integer");
      if (key.str() == "trials") {
        sweep.settings.trials = static_cast<int>(value.as_integer()->get());
      } else {
        sweep.settings.seed = value.as_integer()->get();
      }
    } else if (key.str() == "early_stop") {
      sweep.settings.early_stop = early_stop_from(value);
    } else {
      throw ConfigError(origin_of(value) + ": unknown key sweep." + std::string(key.str()) +
                        did_you_mean(std::string(key.str()), kSweepKeys) +
                        " (the [sweep] table has: overrides, constraint, sweeper, trials, seed, early_stop)");
    }
  }
  return sweep;
}

query::WhereExpression parse_constraint(const std::string& text) {
  try {
    return query::parse_where(text);
  } catch (const Error& error) {
    throw ConfigError("sweep constraint '" + text + "': " + error.what());
  }
}

std::optional<ParamValue> lookup(const Experiment& experiment, const std::string& key) {
  for (const auto& [name, value] : experiment.flat_params) {
    if (name == key) return value;
  }
  return std::nullopt;
}

// A constraint naming a key the point does not have would silently drop every point: refuse it.
void check_constraint_names(const Experiment& experiment, const std::string& text, const query::WhereExpression& constraint) {
  for (const std::string& name : query::names_in(constraint)) {
    if (lookup(experiment, name)) continue;
    std::vector<std::string> keys;
    for (const auto& [key, value] : experiment.flat_params) keys.push_back(key);
    throw ConfigError("sweep constraint '" + text + "': " + name + " is not a key of the config" + did_you_mean(name, keys));
  }
}

// The first constraint the point breaks, or "": the ones its plugins declare (e.g.
// "model.k <= model.num_experts"), then the user's.
std::string broken_constraint(const Experiment& experiment, const std::vector<std::string>& texts,
                              const std::vector<query::WhereExpression>& constraints) {
  const query::Lookup values = [&](const std::string& name) { return lookup(experiment, name); };
  for (const std::string& declared : experiment.declared_constraints) {
    if (!query::evaluate(query::parse_where(declared), values)) return declared;
  }
  for (std::size_t i = 0; i < constraints.size(); ++i) {
    check_constraint_names(experiment, texts[i], constraints[i]);
    if (!query::evaluate(constraints[i], values)) return texts[i];
  }
  return "";
}

// Command-line sweep overrides replace [sweep] ones of the same key.
std::vector<std::string> merge_sweep_overrides(const std::vector<std::string>& from_file,
                                               const std::vector<std::string>& from_command_line) {
  std::vector<std::string> merged;
  for (const auto& text : from_file) {
    const std::string key = parse_override(text).key;
    bool replaced = false;
    for (const auto& cli : from_command_line) replaced = replaced || parse_override(cli).key == key;
    if (!replaced) merged.push_back(text);
  }
  merged.insert(merged.end(), from_command_line.begin(), from_command_line.end());
  return merged;
}

// The resolved TOML of some sections of a point: the cache key of what they build.
std::string sections_text(const Experiment& experiment, const std::vector<std::string>& names) {
  toml::table part;
  for (const auto& name : names) {
    if (const toml::node* node = experiment.resolved.get(name)) part.insert(name, *node);
  }
  std::ostringstream out;
  out << toml::toml_formatter(part, toml::format_flags::none);
  return out.str();
}

// What planning needs to know of a built model.
struct ModelFacts {
  std::vector<std::string> moe_layers;
  bool dual = false;
};

// The checks that span sections, made on what the run would build (the dataset's shape, the
// model, the attacks), so that a bad value is refused before the sweep is written instead of
// becoming failed runs. Datasets are probed (headers, file sizes) and models built once per
// distinct config: a 100-run sweep over lr builds its model once.
class PlanChecks {
 public:
  PlanChecks(const Registry& registry, PlanTarget target)
      : registry_(registry), data_must_exist_(target != PlanTarget::dry_run), device_must_exist_(target == PlanTarget::here) {}

  void check(const Experiment& experiment) {
    if (device_must_exist_) check_device_available(experiment.section("run"));
    const std::optional<DatasetShape> shape = dataset_shape(experiment);
    if (shape) check_data_sizes(experiment.section("data"), *shape);
    check_threat_ball(experiment.section("attack"), shape);
    for (const Params& attack : experiment.eval_attacks) check_threat_ball(attack, shape);
    if (shape) check_evaluation(experiment, model_facts(experiment, shape->info));
  }

 private:
  // The dataset's shape from its probe; none when it has no probe (a plugin's), or when the data
  // need not exist yet (`armor config`) and cannot be read.
  std::optional<DatasetShape> dataset_shape(const Experiment& experiment) {
    const std::string key = sections_text(experiment, {"data"});
    if (const auto it = shapes_.find(key); it != shapes_.end()) return it->second;
    const Params& data = experiment.section("data");
    const DatasetShapeProbe* probe = registry_.dataset_shape(data.string("name"));
    std::optional<DatasetShape> shape;
    if (probe != nullptr) {
      try {
        shape = (*probe)(data);
      } catch (const ConfigError&) {
        if (data_must_exist_) throw;
      } catch (const DataError& error) {
        // The run would fail reading it: say so now, naming where the path came from.
        if (data_must_exist_) {
          if (data.has("path")) data.fail("path", std::string("cannot be read: ") + error.what());
          throw ConfigError("data (dataset '" + data.string("name") + "'): " + error.what());
        }
      }
    }
    shapes_.emplace(key, shape);
    return shape;
  }

  void check_data_sizes(const Params& data, const DatasetShape& shape) {
    const std::string& name = data.string("name");
    const std::int64_t train_limit = data.integer("train_limit");
    if (train_limit > shape.train_size) {
      data.fail("train_limit", fmt::format("exceeds the {} training images of dataset '{}' (0 = all)", shape.train_size, name));
    }
    const std::int64_t test_limit = data.integer("test_limit");
    if (test_limit > shape.test_size) {
      data.fail("test_limit", fmt::format("exceeds the {} test images of dataset '{}' (0 = all)", shape.test_size, name));
    }
    const std::int64_t train = train_limit > 0 ? train_limit : shape.train_size;
    const double validation = data.real("validation");
    if (validation <= 0) return;
    const auto count = validation < 1 ? static_cast<std::int64_t>(std::llround(validation * static_cast<double>(train)))
                                      : static_cast<std::int64_t>(validation);
    const std::string of = fmt::format("of the {} training images{}", train, train_limit > 0 ? " (data.train_limit)" : "");
    if (count >= train) data.fail("validation", fmt::format("leaves no training data: {} {} would be held out", count, of));
    if (count == 0) data.fail("validation", "holds out no image " + of + " (0 = no validation split)");
  }

  // Pixels lie in [0,1]^d: an L-infinity radius above 1, or an L2 radius above the box's
  // diameter sqrt(d), is a ball holding every image (usually a radius given in 0..255 units).
  void check_threat_ball(const Params& params, const std::optional<DatasetShape>& shape) {
    std::shared_ptr<Attack> attack;
    try {
      attack = registry_.attack(params.string("name"))(params);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      throw ConfigError(params.section() + " (attack '" + params.string("name") + "') cannot be built: " + describe_exception(error));
    }
    const std::optional<ThreatBall> ball = attack ? attack->threat_ball() : std::nullopt;
    if (!ball) return;
    std::string problem;
    if (ball->norm == Norm::linf && ball->eps > 1) problem = "must be <= 1 for an L-infinity ball (pixels lie in [0,1])";
    if (ball->norm == Norm::l2 && shape) {
      const DatasetInfo& info = shape->info;
      const double diameter = std::sqrt(static_cast<double>(info.channels * info.height * info.width));
      if (ball->eps > diameter) {
        problem = fmt::format("must be <= {:.4g} for an L2 ball: the diameter sqrt(C*H*W) of the [0,1] box of {}x{}x{} images",
                              diameter, info.channels, info.height, info.width);
      }
    }
    if (problem.empty()) return;
    if (params.has("eps")) params.fail("eps", problem);
    throw ConfigError(params.section() + " (attack '" + params.string("name") + "'): radius " + fmt::format("{}", ball->eps) + " " + problem);
  }

  // Builds the model on the CPU as the run would (gates included), once per distinct config.
  const ModelFacts& model_facts(const Experiment& experiment, const DatasetInfo& info) {
    const std::string key = sections_text(experiment, {"model", "gate", "balancing"}) +
                            fmt::format("{} {} {} {} {}", info.name, info.channels, info.height, info.width, info.num_classes);
    if (const auto it = models_.find(key); it != models_.end()) return it->second;
    const Params& model_params = experiment.section("model");
    ModelFacts facts;
    try {
      // A factory that throws is a PluginError naming its library, as in the run.
      const std::shared_ptr<Classifier> model = make_model(experiment, registry_, info, torch::kCPU);
      for (const auto& [name, layer] : model->moe_layers()) facts.moe_layers.push_back(name);
      facts.dual = model->dual_model() != nullptr;
      check_evaluation(experiment, facts);
      // The host's own checks too, in case they know more than the ones above.
      check_evaluation_options(*model, evaluation_options(experiment));
    } catch (const Error&) {
      throw;
    } catch (const std::exception& error) {
      throw ConfigError("model '" + model_params.string("name") + "' cannot be built from [model] and [gate]: " +
                        describe_exception(error));
    }
    return models_.emplace(key, std::move(facts)).first->second;
  }

  // What [eval] asks of the model (check_evaluation_options' rules, with the value's origin).
  static void check_evaluation(const Experiment& experiment, const ModelFacts& model) {
    const Params& eval = experiment.section("eval");
    const bool moe = !model.moe_layers.empty();
    if (eval.boolean("route_attacks") && !moe) eval.fail("route_attacks", "needs a MoE model; this model has no MoE layer");
    if (eval.boolean("route_change") && !moe) eval.fail("route_change", "needs a MoE model; this model has no MoE layer");
    const std::string& layer = eval.string("fixed_expert_layer");
    if (!layer.empty() && std::find(model.moe_layers.begin(), model.moe_layers.end(), layer) == model.moe_layers.end()) {
      std::string names;
      for (const auto& name : model.moe_layers) names += (names.empty() ? "" : ", ") + name;
      eval.fail("fixed_expert_layer", "names no MoE layer of this model (its MoE layers: " + (names.empty() ? "none" : names) +
                                          ")" + did_you_mean(layer, model.moe_layers));
    }
    if (eval.boolean("dual_members") && !model.dual) {
      eval.fail("dual_members", "needs a dual model (model.name = \"dual_moe\")");
    }
  }

  const Registry& registry_;
  bool data_must_exist_;
  bool device_must_exist_;
  std::map<std::string, std::optional<DatasetShape>> shapes_;
  std::map<std::string, ModelFacts> models_;
};

}  // namespace

std::string SweepSettings::to_spec(const std::string& grid, const std::vector<std::string>& constraints) const {
  toml::table spec;
  spec.insert("grid", grid);
  spec.insert("sweeper", sweeper);
  if (sweeper == "random") {
    spec.insert("trials", trials);
    spec.insert("seed", seed);
  }
  toml::array constraint_list;
  for (const auto& text : constraints) constraint_list.push_back(text);
  spec.insert("constraints", std::move(constraint_list));
  if (early_stop) {
    spec.insert("early_stop", toml::table{{"metric", early_stop->metric},
                                          {"mode", early_stop->maximize ? "max" : "min"},
                                          {"eta", early_stop->eta},
                                          {"min_epochs", early_stop->min_epochs}});
  }
  std::ostringstream out;
  out << toml::toml_formatter(spec, toml::format_flags::none);
  return out.str();
}

SweepSettings SweepSettings::from_spec(const std::string& spec) {
  SweepSettings settings;
  toml::table table;
  try {
    table = toml::parse(std::string_view(spec), std::string_view("sweep spec"));
  } catch (const toml::parse_error&) {
    return settings;  // a spec from before specs were TOML: a plain grid
  }
  if (const auto* sweeper = table.get_as<std::string>("sweeper")) settings.sweeper = sweeper->get();
  if (const toml::node* stop = table.get("early_stop")) settings.early_stop = early_stop_from(*stop);
  return settings;
}

void add_sweep_options(boost::program_options::options_description& options, SweepCommandLine& sweep) {
  namespace po = boost::program_options;
  options.add_options()("constraint", po::value(&sweep.constraints)->composing(),
                        "Sweep: run only the points where this holds, e.g. 'trainer.lr <= 0.1' "
                        "(the armor db --where syntax; repeatable; the plugins' declared constraints, such as "
                        "model.k <= model.num_experts, are always implied)")(
      "sweeper", po::value(&sweep.sweeper), "Sweep: grid (every point, the default) or random (--trials points; "
                                            "uniform(a,b), loguniform(a,b), randint(a,b) allowed)")(
      "trials", po::value(&sweep.trials), "Random search: how many points to draw (default 10)")(
      "early-stop", po::value(&sweep.early_stop),
      "Sweep: asha (successive halving on an epoch metric; settings in [sweep] early_stop) or none");
}

std::string join_overrides(const std::vector<std::string>& overrides) {
  std::string text;
  for (const auto& part : overrides) text += (text.empty() ? "" : " ") + part;
  return text;
}

SweepPlan plan_runs(const std::string& experiment_path, const std::vector<std::string>& overrides, bool multirun,
                    const SweepCommandLine& command_line, const Registry& registry, std::int64_t default_threads,
                    PlanTarget target) {
  SweepPlan plan;
  const FileSweep file = file_sweep(Config::load(experiment_path));
  const std::vector<std::string>& from_file = file.overrides;
  plan.is_sweep = multirun || !from_file.empty();
  plan.constraints = file.constraints;
  plan.constraints.insert(plan.constraints.end(), command_line.constraints.begin(), command_line.constraints.end());
  plan.settings = file.settings;
  if (!command_line.sweeper.empty()) plan.settings.sweeper = command_line.sweeper;
  if (command_line.trials > 0) plan.settings.trials = command_line.trials;
  if (command_line.early_stop == "asha" && !plan.settings.early_stop) plan.settings.early_stop = EarlyStop{};
  if (command_line.early_stop == "none") plan.settings.early_stop.reset();
  if (!command_line.early_stop.empty() && command_line.early_stop != "asha" && command_line.early_stop != "none") {
    throw UsageError("--early-stop must be asha or none (got '" + command_line.early_stop + "')");
  }
  if (plan.settings.sweeper != "grid" && plan.settings.sweeper != "random") {
    throw ConfigError("sweeper must be grid or random (got '" + plan.settings.sweeper + "')" +
                      did_you_mean(plan.settings.sweeper, {"grid", "random"}));
  }
  std::vector<query::WhereExpression> parsed;
  for (const auto& text : plan.constraints) parsed.push_back(parse_constraint(text));
  std::vector<std::vector<std::string>> points{overrides};
  if (plan.is_sweep) {
    // Without --multirun, command-line overrides are plain values (never split at commas): they
    // replace the file's dimension of the same key and apply to every point.
    const std::vector<std::string> fixed = multirun ? std::vector<std::string>{} : overrides;
    plan.sweep_overrides = merge_sweep_overrides(from_file, multirun ? overrides : fixed);
    std::vector<std::string> grid;
    for (const auto& text : plan.sweep_overrides) {
      if (std::find(fixed.begin(), fixed.end(), text) == fixed.end()) grid.push_back(text);
    }
    plan.description = describe_multirun(grid) + (fixed.empty() ? "" : " with " + join_overrides(fixed));
    points = plan.settings.sweeper == "random"
                 ? sample_multirun(grid, plan.settings.trials, static_cast<std::uint64_t>(plan.settings.seed))
                 : expand_multirun(grid);
    for (auto& point : points) point.insert(point.end(), fixed.begin(), fixed.end());
  }
  ResolveOptions options;
  options.default_threads = default_threads;
  ResolveOptions unchecked = options;
  unchecked.run_checks = false;
  for (const auto& point : points) {
    const Config config = compose_experiment(experiment_path, point, registry);
    if (plan.is_sweep) {
      // Read the point's values without the plugins' own checks first: breaking a declared
      // constraint (k > num_experts) is a point to drop, not an error that stops the sweep.
      const std::string broken = broken_constraint(resolve_experiment(config, registry, unchecked), plan.constraints, parsed);
      if (!broken.empty()) {
        plan.dropped.push_back({point, "breaks " + broken});
        continue;
      }
    }
    plan.runs.push_back({point, resolve_experiment(config, registry, options)});
  }
  // Two points with one config would run the same thing twice (`model.k=1,1`): a grid says so; a
  // random search, whose draws may repeat, drops the repeat.
  std::map<std::string, std::size_t> first_with_hash;
  std::vector<PlannedRun> distinct;
  for (std::size_t i = 0; i < plan.runs.size(); ++i) {
    const PlannedRun& run = plan.runs[i];
    const std::string hash = run.experiment.hash();
    const auto [it, inserted] = first_with_hash.emplace(hash, i);
    if (!inserted) {
      const std::string earlier = join_overrides(plan.runs[it->second].overrides);
      if (plan.settings.sweeper == "random") {
        plan.dropped.push_back({run.overrides, "repeats the config of point " + std::to_string(it->second) + " (" + earlier + ")"});
        continue;
      }
      throw ConfigError(fmt::format("sweep points {} ({}) and {} ({}) resolve to the same config (config hash {}): "
                                    "the sweep would run it twice; remove the repeated value",
                                    it->second, earlier.empty() ? "no overrides" : earlier, i,
                                    join_overrides(run.overrides), hash));
    }
    distinct.push_back(run);
  }
  plan.runs = std::move(distinct);
  PlanChecks checks(registry, target);
  for (const PlannedRun& run : plan.runs) checks.check(run.experiment);
  return plan;
}

}  // namespace armor::app
