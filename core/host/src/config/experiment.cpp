#include "armor/config/experiment.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "armor/config/declared_constraints.h"
#include "armor/data/augmentation_params.h"
#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor {
namespace {

struct SectionSpec {
  std::string name;
  std::optional<PluginKind> kind;  // the plugin kind named by `name`, if any
  std::string default_plugin;      // "" = `name` is required
  ParamSchema host_params;         // keys the host owns in this section
};

// [data] validation is a fraction below 1 or a whole number of images: 1.5 is neither. (Whether a
// count leaves training data depends on the dataset's size: checked when the run is planned.)
// run.device's form; whether the device is there is checked where the run executes (the run side).
void check_device_name(const Params& run) {
  static const std::regex device(R"(^(cpu|cuda(:[0-9]+)?)$)");
  if (!std::regex_match(run.string("device"), device)) run.fail("device", "must be cpu, cuda or cuda:N");
}

void check_validation_value(const Params& data) {
  const double value = data.real("validation");
  if (value >= 1 && value != std::floor(value)) {
    data.fail("validation", "must be a fraction below 1 or a whole number of images");
  }
}

const std::vector<SectionSpec>& section_specs() {
  static const std::vector<SectionSpec> specs = [] {
    std::vector<SectionSpec> s;
    s.push_back({"run", std::nullopt, "",
                 ParamSchema()
                     .integer("seed", 0, "Seed of weights, shuffling and attacks", 0)
                     .string("device", "cpu", "cpu, cuda or cuda:N")
                     .integer("threads", 0, "Intra-op threads (0 = all cores)", 0)
                     .integer("checkpoint_every", 1,
                              "Save the training state every N epochs (and after the last; 0 = last only)", 0)
                     .check(check_device_name)});
    s.push_back(
        {"data", PluginKind::dataset, "fashion_mnist",
         ParamSchema()
             .integer("train_limit", 0, "Use the first N training images (0 = all)", 0)
             .integer("test_limit", 0, "Use the first N test images (0 = all)", 0)
             .real("validation", 0, "Validation split carved from training data: a fraction < 1 or a count (0 = none)",
                   0)
             .integer("validation_seed", 0, "Seed of the validation split's draw (same images for every run)", 0)
             .extend(augmentation_params())
             .check(check_validation_value)});
    s.push_back({"model", PluginKind::model, "", ParamSchema()});
    s.push_back({"gate", PluginKind::gate, "topk", ParamSchema()});
    // Off unless an experiment asks: paper 1 trains without one, paper 2's weights (0.01, 0.5 on
    // CIFAR-100) live in its experiments' TOML.
    s.push_back({"balancing", PluginKind::balancing, "switch",
                 ParamSchema().real("weight", 0.0, "Weight of the balancing loss (0 = off)", 0)});
    s.push_back({"attack", PluginKind::attack, "pgd", ParamSchema()});
    s.push_back({"trainer", PluginKind::trainer, "", ParamSchema()});
    s.push_back(
        {"eval", std::nullopt, "",
         ParamSchema()
             .integer("batch_size", 256, "Evaluation batch size", 1)
             .integer("validation_every", 1, "Evaluate the validation split every N epochs (and after the last)", 1)
             .boolean("certified_radius", false, "Estimate paper 1's certified L2 radius per test image (see README)")
             .real("certified_eps", 0.5, "L2 radius at which cert_acc counts an image as certified", 0)
             .boolean("route_attacks", false,
                      "MoE: each attack again on the experts with the clean route held (<metric>_rae_acc) and "
                      "on the router alone (<metric>_rar_acc)")
             .boolean("route_change", false,
                      "MoE: record <metric>_route_change, the share of test images whose top-1 expert (in any "
                      "MoE layer) the attack changes")
             .string("fixed_expert_layer", "",
                     "MoE: at this MoE layer (e.g. \"layer3.0\"), attack the model with each expert forced "
                     "in turn; results in expert_metrics (\"\" = off)")
             .string("fixed_expert_attacks", "",
                     "MoE: the [eval.attacks.<metric>] tables the fixed_expert_layer passes run, "
                     "comma-separated (\"\" = every one)")
             .boolean("dual_members", false,
                      "Dual model: also evaluate F_S and F_R alone (fs_clean_acc, fs_<metric>_acc, fr_...)")
             .string("checks", "standard",
                     "Attack-validity checks recorded in eval_checks: standard (the cheap ones, on the first 64 "
                     "test images), full (on 256, adding per-attack checks: a continuation of each attack, "
                     "Square on what the gradient attacks left), off (see README)",
                     {"off", "standard", "full"})
             .string("curve", "",
                     "Robustness curve: the [eval.attacks.<metric>] attack run on an eps ladder, recording per "
                     "test image the smallest eps that broke it (table robustness_curves; \"\" = off)")
             .integer("curve_points", 8, "Rungs of the curve's eps ladder: eps_j = curve_max_eps * j / curve_points", 1)
             .real("curve_max_eps", 0.0, "The curve's largest eps (0 = twice the attack's eps)", 0)});
    return s;
  }();
  return specs;
}

// Keys the host owns in every [eval.attacks.<metric>] table, besides the attack plugin's.
ParamSchema eval_attack_host_params() {
  return ParamSchema().integer("batch_size", 0, "Evaluation batch size of this attack (0 = eval.batch_size)", 0);
}

std::vector<std::string> section_names() {
  std::vector<std::string> names;
  for (const auto& spec : section_specs()) names.push_back(spec.name);
  return names;
}

bool is_fraction(const std::string& text, double& value) {
  static const std::regex fraction(R"(^\s*([+-]?\d+(\.\d*)?)\s*/\s*(\d+(\.\d*)?)\s*$)");
  std::smatch match;
  if (!std::regex_match(text, match, fraction)) return false;
  const double denominator = std::stod(match[3].str());
  if (denominator == 0) return false;
  value = std::stod(match[1].str()) / denominator;
  return true;
}

const char* article(ParamType type) { return type == ParamType::integer ? "an " : "a "; }

std::string format_bound(double bound) { return fmt::format("{}", bound); }

// The node's value as the spec's type, or a ConfigError "<where>: <key> must be ... (got ...)".
ParamValue typed_value(const ParamSpec& spec, const toml::node& node, const std::string& key) {
  ParamValue raw;
  const std::string where = origin_of(node);
  if (!to_param_value(node, raw)) {
    const char* got = node.is_table() ? "a table" : node.is_array() ? "an array" : "a date or time";
    throw ConfigError(where + ": " + key + " must be " + article(spec.type) + to_string(spec.type) + " (got " + got +
                      ")");
  }
  auto wrong_type = [&]() -> ConfigError {
    const std::string raw_type = type_name(raw);
    return ConfigError(where + ": " + key + " must be " + article(spec.type) + to_string(spec.type) + " (got " +
                       to_display_string(raw) + ", " + (raw_type == "integer" ? "an " : "a ") + raw_type + ")");
  };
  ParamValue value;
  switch (spec.type) {
    case ParamType::boolean:
      if (!std::holds_alternative<bool>(raw)) throw wrong_type();
      value = raw;
      break;
    case ParamType::integer:
      if (!std::holds_alternative<std::int64_t>(raw)) throw wrong_type();
      value = raw;
      break;
    case ParamType::real: {
      double fraction = 0;
      if (const auto* i = std::get_if<std::int64_t>(&raw)) {
        value = static_cast<double>(*i);
      } else if (std::holds_alternative<double>(raw)) {
        value = raw;
      } else if (const auto* s = std::get_if<std::string>(&raw); s != nullptr && is_fraction(*s, fraction)) {
        value = fraction;  // "8/255" in a file
      } else {
        throw wrong_type();
      }
      break;
    }
    case ParamType::string:
      if (!std::holds_alternative<std::string>(raw)) throw wrong_type();
      value = raw;
      break;
  }
  if (spec.type == ParamType::integer || spec.type == ParamType::real) {
    const double number =
        spec.type == ParamType::integer ? static_cast<double>(std::get<std::int64_t>(value)) : std::get<double>(value);
    if (!std::isfinite(number))
      throw ConfigError(where + ": " + key + " must be finite (got " + to_display_string(value) + ")");
    if (spec.min && number < *spec.min) {
      throw ConfigError(where + ": " + key + " must be >= " + format_bound(*spec.min) + " (got " +
                        to_display_string(value) + ")");
    }
    if (spec.max && number > *spec.max) {
      throw ConfigError(where + ": " + key + " must be <= " + format_bound(*spec.max) + " (got " +
                        to_display_string(value) + ")");
    }
  }
  if (!spec.choices.empty()) {
    const auto& text = std::get<std::string>(value);
    if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
      std::string list;
      for (const auto& choice : spec.choices) list += (list.empty() ? "" : ", ") + choice;
      throw ConfigError(where + ": " + key + " must be one of " + list + " (got " + to_display_string(value) + ")" +
                        did_you_mean(text, spec.choices));
    }
  }
  return value;
}

void insert_value(toml::table& table, const std::string& key, const ParamValue& value) {
  std::visit([&](const auto& v) { table.insert_or_assign(key, v); }, value);
}

// Checks `given` (may be null) against the schema; fills `params` and `resolved` (schema order).
// Keys `given` lacks are taken from `inherited` (may be null, already checked), then the defaults.
void resolve_keys(bool run_checks, const std::string& section, const toml::table* given, const ParamSchema& schema,
                  const std::string& plugin_label, const std::vector<std::string>& allowed_tables, Params& params,
                  toml::table& resolved, const toml::table* inherited) {
  if (given != nullptr) {
    for (const auto& [key, node] : *given) {
      const std::string name(key.str());
      if (name == "name" && !plugin_label.empty()) continue;
      if (std::find(allowed_tables.begin(), allowed_tables.end(), name) != allowed_tables.end()) continue;
      if (schema.find(name) == nullptr) {
        throw ConfigError(origin_of(node) + ": unknown key " + section + "." + name + plugin_label +
                          did_you_mean(name, schema.names()) + "; run `armor plugins show` for the parameters");
      }
    }
  }
  for (const ParamSpec& spec : schema.specs()) {
    const toml::node* node = given != nullptr ? given->get(spec.name) : nullptr;
    if (node == nullptr && inherited != nullptr) node = inherited->get(spec.name);
    if (node != nullptr) {
      params.set(spec.name, typed_value(spec, *node, section + "." + spec.name), origin_of(*node));
    } else {
      params.set(spec.name, spec.default_value, "default");
    }
    insert_value(resolved, spec.name, params.value(spec.name));
  }
  if (run_checks) {
    check_declared_constraints(params, schema);
    for (const auto& check : schema.checks()) check(params);
  }
}

// The plugin a section names, and its schema joined with the host's keys.
const ComponentInfo& section_plugin(const SectionSpec& spec, const toml::table* given, const Catalog& catalog,
                                    std::string& plugin_name, std::string& name_origin) {
  plugin_name = spec.default_plugin;
  name_origin = "default";
  if (given != nullptr) {
    if (const toml::node* node = given->get("name")) {
      const auto* text = node->as_string();
      if (text == nullptr)
        throw ConfigError(origin_of(*node) + ": " + spec.name + ".name must be a string naming a plugin");
      plugin_name = text->get();
      name_origin = origin_of(*node);
    }
  }
  if (plugin_name.empty()) {
    throw ConfigError("[" + spec.name + "] needs name = \"...\", one of the registered " + to_string(*spec.kind) +
                      "s (see `armor plugins`)");
  }
  try {
    return catalog.info(*spec.kind, plugin_name);
  } catch (const ConfigError& error) {
    throw ConfigError(name_origin + ": " + spec.name + ".name: " + error.what());
  }
}

// `declared` gains the section's declared constraints over dotted keys ("model.k <= model.num_experts").
Params resolve_section(bool run_checks, const SectionSpec& spec, const toml::table* given, const Catalog& catalog,
                       toml::table& resolved, std::vector<std::string>& declared,
                       const std::vector<std::string>& allowed_tables = {}, const toml::table* inherited = nullptr) {
  Params params(spec.name);
  ParamSchema schema = spec.host_params;
  std::string label;
  if (spec.kind) {
    std::string plugin_name, name_origin;
    const ComponentInfo& info = section_plugin(spec, given, catalog, plugin_name, name_origin);
    schema.extend(info.params);
    params.set("name", plugin_name, name_origin);
    resolved.insert_or_assign("name", plugin_name);
    label = std::string(" (") + to_string(*spec.kind) + " '" + plugin_name + "')";
  }
  resolve_keys(run_checks, spec.name, given, schema, label, allowed_tables, params, resolved, inherited);
  for (const ParamConstraint& constraint : schema.constraints()) {
    declared.push_back(qualified_constraint(spec.name, constraint.expression));
  }
  return params;
}

void flatten(const toml::table& table, const std::string& prefix,
             std::vector<std::pair<std::string, ParamValue>>& out) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    ParamValue value;
    if (const auto* sub = node.as_table()) {
      flatten(*sub, path, out);
    } else if (to_param_value(node, value)) {
      out.emplace_back(path, value);
    }
  }
}

const toml::table* section_table(const toml::table& root, const std::string& name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  const auto* table = node->as_table();
  if (table == nullptr) throw ConfigError(origin_of(*node) + ": " + name + " must be a table ([" + name + "])");
  return table;
}

}  // namespace

const Params& Experiment::section(const std::string& name) const {
  const auto it = sections.find(name);
  if (it == sections.end()) throw ConfigError("no section [" + name + "] in the experiment");
  return it->second;
}

std::string Experiment::to_toml() const {
  std::ostringstream out;
  out << toml::toml_formatter(resolved, toml::format_flags::none);
  return out.str() + "\n";
}

std::string Experiment::hash() const {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : to_toml()) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

std::int64_t Experiment::seed() const { return section("run").integer("seed"); }

std::vector<std::string> attack_name_list(const std::string& list) {
  std::vector<std::string> names;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string item = list.substr(start, comma - start);
    const std::size_t first = item.find_first_not_of(" \t");
    if (first != std::string::npos) names.push_back(item.substr(first, item.find_last_not_of(" \t") - first + 1));
    start = comma + 1;
  }
  return names;
}

std::string eval_attack_metric(const Params& section) {
  const std::string prefix = "eval.attacks.";
  return section.section().substr(prefix.size());
}

bool is_declared_key(const Config& config, const Catalog& catalog, const std::string& key) {
  const std::vector<std::string> parts = split_key(key);
  const toml::table& root = config.table();
  auto plugin_of = [&](const toml::table* table, const std::string& fallback) {
    const toml::node* name = table != nullptr ? table->get("name") : nullptr;
    return name != nullptr && name->as_string() != nullptr ? name->as_string()->get() : fallback;
  };
  auto declares = [&](PluginKind kind, const std::string& plugin, const std::string& param) {
    const ComponentInfo* info = catalog.find(kind, plugin);
    return param == "name" || (info != nullptr && info->params.find(param) != nullptr);
  };
  for (const SectionSpec& spec : section_specs()) {
    if (parts[0] != spec.name) continue;
    const toml::node* section_node = root.get(spec.name);
    const toml::table* table = section_node != nullptr ? section_node->as_table() : nullptr;
    if (parts.size() == 2) {
      if (spec.host_params.find(parts[1]) != nullptr) return true;
      return spec.kind && declares(*spec.kind, plugin_of(table, spec.default_plugin), parts[1]);
    }
    if (spec.name == "balancing" && parts.size() == 4 && parts[1] == "also") {
      const toml::node* also = table != nullptr ? table->get("also") : nullptr;
      const toml::node* entry = also != nullptr && also->as_table() ? also->as_table()->get(parts[2]) : nullptr;
      // A new extra loss is a new table, added with `+`; an existing one has weight and its plugin's keys.
      return entry != nullptr && entry->as_table() != nullptr &&
             (parts[3] == "weight" ||
              declares(PluginKind::balancing, plugin_of(entry->as_table(), parts[2]), parts[3]));
    }
    if (spec.name == "eval" && parts.size() == 4 && parts[1] == "attacks") {
      const toml::node* attack_node = root.get("attack");
      const std::string threat = plugin_of(attack_node != nullptr ? attack_node->as_table() : nullptr, "pgd");
      const toml::node* attacks = table != nullptr ? table->get("attacks") : nullptr;
      const toml::node* entry =
          attacks != nullptr && attacks->as_table() ? attacks->as_table()->get(parts[2]) : nullptr;
      // A new evaluation attack is a new table, added with `+`; an existing one has its plugin's keys.
      return entry != nullptr && entry->as_table() != nullptr &&
             (eval_attack_host_params().find(parts[3]) != nullptr ||
              declares(PluginKind::attack, plugin_of(entry->as_table(), threat), parts[3]));
    }
  }
  return false;
}

Config compose_experiment(const std::string& path, const std::vector<std::string>& overrides, const Catalog& catalog) {
  return Config::compose(path, overrides, [&catalog](const Config& config, const std::string& key) {
    return is_declared_key(config, catalog, key);
  });
}

Experiment resolve_experiment(const Config& config, const Catalog& catalog, const ResolveOptions& options) {
  const toml::table& root = config.table();
  for (const auto& [key, node] : root) {
    const std::string name(key.str());
    if (name == "sweep") continue;
    const auto names = section_names();
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      throw ConfigError(origin_of(node) + ": unknown section '" + name + "'" + did_you_mean(name, names) +
                        "; sections: run, data, model, gate, balancing, attack, trainer, eval, sweep");
    }
  }
  Experiment experiment;
  for (const SectionSpec& spec : section_specs()) {
    const toml::table* given = section_table(root, spec.name);
    toml::table resolved;
    const bool is_eval = spec.name == "eval";
    const std::vector<std::string> tables = is_eval                    ? std::vector<std::string>{"attacks"}
                                            : spec.name == "balancing" ? std::vector<std::string>{"also"}
                                                                       : std::vector<std::string>{};
    experiment.sections.emplace(spec.name, resolve_section(options.run_checks, spec, given, catalog, resolved,
                                                           experiment.declared_constraints, tables));
    experiment.resolved.insert_or_assign(spec.name, std::move(resolved));
  }
  // Extra balancing losses: each [balancing.also.<label>] table is a balancing section.
  const toml::table* balancing = section_table(root, "balancing");
  const toml::table* also = balancing != nullptr ? section_table(*balancing, "also") : nullptr;
  if (also != nullptr && !also->empty()) {
    toml::table resolved_also;
    for (const auto& [key, node] : *also) {
      const std::string label(key.str());
      const auto* table = node.as_table();
      const std::string section = "balancing.also." + label;
      if (table == nullptr)
        throw ConfigError(origin_of(node) + ": " + section + " must be a table of balancing-loss settings");
      // A table made by an override has no position of its own: its first key has one.
      const std::string where =
          table->source().path || table->empty() ? origin_of(node) : origin_of(table->cbegin()->second);
      if (table->get("name") == nullptr && catalog.find(PluginKind::balancing, label) == nullptr) {
        throw ConfigError(where + ": [" + section + "] names no balancing loss: '" + label + "' is not one" +
                          did_you_mean(label, catalog.names(PluginKind::balancing)) + " (or give name = \"...\")");
      }
      SectionSpec spec{section, PluginKind::balancing, label,
                       ParamSchema().real("weight", 0.01, "Weight of this balancing loss (0 = off)", 0)};
      toml::table resolved;
      experiment.extra_balancing.push_back(
          resolve_section(options.run_checks, spec, table, catalog, resolved, experiment.declared_constraints));
      resolved_also.insert_or_assign(label, std::move(resolved));
    }
    experiment.resolved["balancing"].as_table()->insert_or_assign("also", std::move(resolved_also));
  }
  // Evaluation attacks: each [eval.attacks.<metric>] table is an attack section.
  const toml::table* eval = section_table(root, "eval");
  const toml::table* attacks = eval != nullptr ? section_table(*eval, "attacks") : nullptr;
  toml::table resolved_attacks;
  if (attacks != nullptr) {
    const Params& threat = experiment.section("attack");
    for (const auto& [key, node] : *attacks) {
      const std::string metric(key.str());
      const auto* table = node.as_table();
      if (table == nullptr)
        throw ConfigError(origin_of(node) + ": eval.attacks." + metric + " must be a table of attack settings");
      if (metric.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
        throw ConfigError(origin_of(node) + ": eval.attacks." + metric + ": metric names use a-z, 0-9 and _");
      }
      // Same plugin as [attack]: this table's values, then the threat model's. (Not merged into a
      // copy: toml++ drops the source positions of copied nodes, and errors print them.)
      const toml::node* name_node = table->get("name");
      const bool same_plugin = name_node == nullptr || (name_node->as_string() != nullptr &&
                                                        name_node->as_string()->get() == threat.string("name"));
      const toml::table* inherited = same_plugin ? section_table(root, "attack") : nullptr;
      SectionSpec spec{"eval.attacks." + metric, PluginKind::attack, same_plugin ? threat.string("name") : "",
                       eval_attack_host_params()};
      toml::table resolved;
      experiment.eval_attacks.push_back(resolve_section(options.run_checks, spec, table, catalog, resolved,
                                                        experiment.declared_constraints, {}, inherited));
      resolved_attacks.insert_or_assign(metric, std::move(resolved));
    }
  }
  experiment.resolved["eval"].as_table()->insert_or_assign("attacks", std::move(resolved_attacks));
  // eval.fixed_expert_attacks names [eval.attacks.<metric>] tables.
  {
    const Params& eval_section = experiment.section("eval");
    std::vector<std::string> metrics;
    for (const Params& attack : experiment.eval_attacks) metrics.push_back(eval_attack_metric(attack));
    for (const std::string& name : attack_name_list(eval_section.string("fixed_expert_attacks"))) {
      if (std::find(metrics.begin(), metrics.end(), name) != metrics.end()) continue;
      std::string tables;
      for (const std::string& metric : metrics) tables += (tables.empty() ? "" : ", ") + metric;
      eval_section.fail("fixed_expert_attacks", "names no [eval.attacks.<metric>] table: '" + name +
                                                    "' is not one (the tables: " + (tables.empty() ? "none" : tables) +
                                                    ")" + did_you_mean(name, metrics));
    }
  }
  // eval.curve names an [eval.attacks.<metric>] table whose attack has an eps to ladder.
  {
    const Params& eval_section = experiment.section("eval");
    const std::string& curve = eval_section.string("curve");
    if (!curve.empty()) {
      std::vector<std::string> metrics;
      const Params* found = nullptr;
      for (const Params& attack : experiment.eval_attacks) {
        metrics.push_back(eval_attack_metric(attack));
        if (metrics.back() == curve) found = &attack;
      }
      if (found == nullptr) {
        std::string tables;
        for (const std::string& metric : metrics) tables += (tables.empty() ? "" : ", ") + metric;
        eval_section.fail("curve", "names no [eval.attacks.<metric>] table (the tables: " +
                                       (tables.empty() ? "none" : tables) + ")" + did_you_mean(curve, metrics));
      }
      if (!found->has("eps")) eval_section.fail("curve", "names an attack without an eps to ladder");
    }
  }
  // threads = 0 means every core; the resolved config records the number actually used.
  if (experiment.sections.at("run").integer("threads") == 0) {
    const auto cores = options.default_threads > 0
                           ? options.default_threads
                           : static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
    experiment.sections.at("run").set("threads", cores, "threads = 0: all cores");
    experiment.resolved["run"].as_table()->insert_or_assign("threads", cores);
  }
  flatten(experiment.resolved, "", experiment.flat_params);
  return experiment;
}

}  // namespace armor
