#include "armor/sweep/sweep_plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <sstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "armor/config/config.h"
#include "armor/config/override.h"
#include "armor/config/sweep.h"
#include "armor/error.h"
#include "armor/query/where_evaluate.h"
#include "armor/util/suggest.h"

namespace armor {
namespace {

struct FileSweep {
  std::vector<std::string> overrides;
  std::vector<std::string> constraints;
  SweepSettings settings;
};

const std::vector<std::string> kSweepKeys{"overrides", "constraint", "sweeper", "trials", "seed", "early_stop"};

EarlyStop early_stop_from(const toml::node& node) {
  const toml::table* table = node.as_table();
  if (table == nullptr)
    throw ConfigError(origin_of(node) +
                      ": sweep.early_stop must be a table { metric = ..., mode = ..., eta = ..., min_epochs = ... }");
  EarlyStop stop;
  for (const auto& [key, value] : *table) {
    const std::string name(key.str());
    const std::string where = origin_of(value) + ": sweep.early_stop." + name;
    if (name == "metric" && value.is_string()) {
      stop.metric = value.as_string()->get();
    } else if (name == "mode" && value.is_string() &&
               (value.as_string()->get() == "max" || value.as_string()->get() == "min")) {
      stop.maximize = value.as_string()->get() == "max";
    } else if (name == "eta" && value.is_integer() && value.as_integer()->get() >= 2) {
      stop.eta = static_cast<int>(value.as_integer()->get());
    } else if (name == "min_epochs" && value.is_integer() && value.as_integer()->get() >= 1) {
      stop.min_epochs = static_cast<int>(value.as_integer()->get());
    } else if (name == "metric" || name == "mode" || name == "eta" || name == "min_epochs") {
      throw ConfigError(where + " must be " +
                        (name == "metric" ? "a string (an epoch metric)"
                         : name == "mode" ? "\"max\" or \"min\""
                         : name == "eta"  ? "an integer >= 2"
                                          : "an integer >= 1"));
    } else {
      throw ConfigError(where + " is not a key of early_stop" +
                        did_you_mean(name, {"metric", "mode", "eta", "min_epochs"}));
    }
  }
  return stop;
}

std::vector<std::string> string_list(const toml::node& node, const std::string& key) {
  std::vector<std::string> values;
  if (const auto* text = node.as_string()) return {text->get()};
  const toml::array* list = node.as_array();
  if (list == nullptr)
    throw ConfigError(origin_of(node) + ": sweep." + key + " must be a string or an array of strings");
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
      if (!value.is_integer())
        throw ConfigError(origin_of(value) + ": sweep." + std::string(key.str()) + " must be an integer");
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
void check_constraint_names(const Experiment& experiment, const std::string& text,
                            const query::WhereExpression& constraint) {
  for (const std::string& name : query::names_in(constraint)) {
    if (lookup(experiment, name)) continue;
    std::vector<std::string> keys;
    for (const auto& [key, value] : experiment.flat_params) keys.push_back(key);
    throw ConfigError("sweep constraint '" + text + "': " + name + " is not a key of the config" +
                      did_you_mean(name, keys));
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

std::string join_overrides(const std::vector<std::string>& overrides) {
  std::string text;
  for (const auto& part : overrides) text += (text.empty() ? "" : " ") + part;
  return text;
}

SweepPlan plan_runs(const std::string& experiment_path, const std::vector<std::string>& overrides, bool multirun,
                    const SweepCommandLine& command_line, const Catalog& catalog, std::int64_t default_threads) {
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
    const Config config = compose_experiment(experiment_path, point, catalog);
    if (plan.is_sweep) {
      // Read the point's values without the plugins' own checks first: breaking a declared
      // constraint (k > num_experts) is a point to drop, not an error that stops the sweep.
      const std::string broken =
          broken_constraint(resolve_experiment(config, catalog, unchecked), plan.constraints, parsed);
      if (!broken.empty()) {
        plan.dropped.push_back({point, "breaks " + broken});
        continue;
      }
    }
    plan.runs.push_back({point, resolve_experiment(config, catalog, options)});
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
        plan.dropped.push_back(
            {run.overrides, "repeats the config of point " + std::to_string(it->second) + " (" + earlier + ")"});
        continue;
      }
      throw ConfigError(
          fmt::format("sweep points {} ({}) and {} ({}) resolve to the same config (config hash {}): "
                      "the sweep would run it twice; remove the repeated value",
                      it->second, earlier.empty() ? "no overrides" : earlier, i, join_overrides(run.overrides), hash));
    }
    distinct.push_back(run);
  }
  plan.runs = std::move(distinct);
  return plan;
}

}  // namespace armor
