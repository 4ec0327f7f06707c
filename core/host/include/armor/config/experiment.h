#pragma once
// Experiment: a composed config checked against the catalog (the registry, or plugin manifests) and completed with every default,
// ready to run. Sections and their plugin kinds:
//   [run]       host: seed, device, threads
//   [data]      dataset plugin + host keys train_limit, test_limit
//   [model]     model plugin          [gate]    gate plugin
//   [balancing] balancing plugin + host key weight; more losses in [balancing.also.<label>] tables,
//               each a balancing section of its own (plugin `name` defaults to <label>, + weight)
//   [attack]    attack plugin: the threat model adversarial trainers use
//   [trainer]   trainer plugin
//   [sweep]     not a run setting: the sweep of the experiment (see config/sweep.h); dropped here
//   [eval]      host: batch_size, validation_every, route_attacks, route_change, fixed_expert_layer,
//               dual_members, and [eval.attacks.<metric>] tables, each an attack plugin (+ host key
//               batch_size). An evaluation attack of the same plugin as [attack] starts from
//               [attack]'s values.
// Every section names its plugin with `name`. Unknown sections, unknown keys (with a suggestion),
// ill-typed and out-of-range values are ConfigErrors that name file:line:col (or the override).

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "armor/config/config.h"
#include "armor/params/params.h"
#include "armor/plugin/catalog.h"

namespace armor {

struct Experiment {
  toml::table resolved;                                         // every key of every section, defaults filled
  std::map<std::string, Params> sections;                       // "run", "data", "model", ... "eval"
  std::vector<Params> eval_attacks;                             // section "eval.attacks.<metric>", by metric name
  std::vector<Params> extra_balancing;                          // section "balancing.also.<label>", by label
  std::vector<std::pair<std::string, ParamValue>> flat_params;  // "model.k" -> 2, ...
  // What the sections' schemas declare (ParamSchema::constraint) over dotted keys, e.g.
  // "model.k <= model.num_experts": checked while resolving (with run_checks), and what a sweep
  // drops a point for.
  std::vector<std::string> declared_constraints;

  const Params& section(const std::string& name) const;
  std::string to_toml() const;
  std::string hash() const;  // FNV-1a 64 of to_toml(), hex
  std::int64_t seed() const;
};

struct ResolveOptions {
  // What run.threads = 0 becomes (0 = every core); a launcher running N runs at once gives each
  // its share of the cores.
  std::int64_t default_threads = 0;
  // Run the schemas' cross-parameter checks (off only to read a point's values before a sweep
  // constraint decides whether it runs at all).
  bool run_checks = true;
};

Experiment resolve_experiment(const Config& config, const Catalog& catalog, const ResolveOptions& options = {});

// Whether `key` (dotted) is a parameter of the plugin its section names in `config` (or of the host),
// so that `key=value` may set it although the file leaves it at its default.
bool is_declared_key(const Config& config, const Catalog& catalog, const std::string& key);

// The composition every command uses: Config::compose with is_declared_key as the existence rule.
Config compose_experiment(const std::string& path, const std::vector<std::string>& overrides, const Catalog& catalog);

// The names of a comma-separated list ("pgd20_nors, apgd20" -> {"pgd20_nors", "apgd20"}), blanks
// trimmed, empty items dropped: how eval.fixed_expert_attacks is read.
std::vector<std::string> attack_name_list(const std::string& list);

// The metric name of an evaluation attack section ("eval.attacks.pgd20" -> "pgd20").
std::string eval_attack_metric(const Params& section);

}  // namespace armor
