#include "sweep_plan.h"

#include "armor/config/config.h"
#include "armor/config/override.h"
#include "armor/config/sweep.h"
#include "armor/error.h"
#include "armor/query/where_evaluate.h"
#include "armor/util/suggest.h"

namespace armor::app {
namespace {

struct FileSweep {
  std::vector<std::string> overrides;
  std::vector<std::string> constraints;
};

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
    } else {
      throw ConfigError(origin_of(value) + ": unknown key sweep." + std::string(key.str()) +
                        did_you_mean(std::string(key.str()), {"overrides", "constraint"}) +
                        " (the [sweep] table has: overrides, constraint)");
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

// The first constraint the point breaks, or "".
std::string broken_constraint(const Experiment& experiment, const std::vector<std::string>& texts,
                              const std::vector<query::WhereExpression>& constraints) {
  const query::Lookup values = [&](const std::string& name) { return lookup(experiment, name); };
  if (lookup(experiment, "model.k") && lookup(experiment, "model.num_experts") &&
      !query::evaluate(query::parse_where(kDefaultMoeConstraint), values)) {
    return kDefaultMoeConstraint;
  }
  for (std::size_t i = 0; i < constraints.size(); ++i) {
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

std::string join_overrides(const std::vector<std::string>& overrides) {
  std::string text;
  for (const auto& part : overrides) text += (text.empty() ? "" : " ") + part;
  return text;
}

SweepPlan plan_runs(const std::string& experiment_path, const std::vector<std::string>& overrides, bool multirun,
                    const std::vector<std::string>& constraints, const Registry& registry,
                    std::int64_t default_threads) {
  SweepPlan plan;
  const FileSweep file = file_sweep(Config::load(experiment_path));
  const std::vector<std::string>& from_file = file.overrides;
  plan.is_sweep = multirun || !from_file.empty();
  plan.constraints = file.constraints;
  plan.constraints.insert(plan.constraints.end(), constraints.begin(), constraints.end());
  std::vector<query::WhereExpression> parsed;
  for (const auto& text : plan.constraints) parsed.push_back(parse_constraint(text));
  std::vector<std::vector<std::string>> points{overrides};
  if (plan.is_sweep) {
    plan.sweep_overrides = merge_sweep_overrides(from_file, multirun ? overrides : std::vector<std::string>{});
    if (!multirun) {  // plain overrides still apply to every point of the file's sweep
      plan.sweep_overrides.insert(plan.sweep_overrides.end(), overrides.begin(), overrides.end());
    }
    plan.description = describe_multirun(plan.sweep_overrides);
    points = expand_multirun(plan.sweep_overrides);
  }
  ResolveOptions options;
  options.default_threads = default_threads;
  ResolveOptions unchecked = options;
  unchecked.run_checks = false;
  for (const auto& point : points) {
    const Config config = compose_experiment(experiment_path, point, registry);
    if (plan.is_sweep) {
      // Read the point's values without the plugins' own checks first: k > num_experts is a
      // point to drop, not an error that stops the sweep.
      const std::string broken = broken_constraint(resolve_experiment(config, registry, unchecked), plan.constraints, parsed);
      if (!broken.empty()) {
        plan.dropped.push_back({point, "breaks " + broken});
        continue;
      }
    }
    plan.runs.push_back({point, resolve_experiment(config, registry, options)});
  }
  return plan;
}

}  // namespace armor::app
