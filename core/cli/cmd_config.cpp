// armor config EXPERIMENT [overrides...] [--multirun] [--check]: prints the composed and resolved
// config (every key, defaults filled, checked against the plugins' schemas), or with --multirun the
// list of runs a sweep would make (an experiment with a [sweep] table: the config of its first run,
// then that list). --check also runs what armor run checks before recording (the plugins' own
// checks, the dataset's shape, the model built on the CPU).

#include <iostream>
#include <memory>

#include <fmt/core.h>

#include "armor/host/plugin_manifest.h"
#include "command.h"

namespace armor::app {

int config_command(const std::vector<std::string>& args) {
  HostOptions host;
  bool multirun = false;
  bool check = false;
  std::string experiment_path;
  std::vector<std::string> overrides;
  SweepCommandLine sweep_options;
  po::options_description visible("options");
  add_sweep_options(visible, sweep_options);
  visible.add_options()("multirun,m", po::bool_switch(&multirun),
                        "Print the runs of the sweep instead, and the points its constraints drop (a dry run)");
  visible.add_options()("check", po::bool_switch(&check),
                        "Also run the plugins' own checks and build each run's model on the CPU, as armor run does "
                        "before recording (loads LibTorch)");
  add_plugin_path_option(visible, host);
  po::options_description hidden;
  hidden.add_options()("experiment", po::value(&experiment_path)->required(), "")(
      "overrides", po::value(&overrides)->composing(), "");
  po::positional_options_description positional;
  positional.add("experiment", 1).add("overrides", -1);
  po::variables_map values;
  if (!parse_command_line("armor config EXPERIMENT.toml [key=value ...] [--multirun] [options]", args, visible, hidden,
                          positional, values)) {
    return kExitOk;
  }
  // Composed against the plugins' manifests (schemas, no LibTorch: milliseconds); when one is missing
  // or stale the plugins are loaded once, which writes them. --check builds what `armor run` builds.
  const PluginSearch search = plugin_search(host);
  std::unique_ptr<Catalog> manifests = check ? nullptr : catalog_from_manifests(search);
  if (!manifests && !check) {
    run_side().load_plugins(search);
    manifests = catalog_from_manifests(search);  // nullptr only when the manifest cache cannot be written
  }
  const Catalog& catalog = manifests ? *manifests : run_side().load_plugins(search);
  const SweepPlan plan = plan_runs(experiment_path, overrides, multirun, sweep_options, catalog, 0);
  // The dry run prints configs whose data may not be in place yet (data.path given later).
  if (check) run_side().check_plan(plan, PlanTarget::dry_run);
  if (!plan.is_sweep) {
    std::cout << plan.runs.front().experiment.to_toml();
    return kExitOk;
  }
  // A sweep in the file, no --multirun: its first run's config, then the runs (which differ from it
  // only in their overrides).
  if (!multirun && !plan.runs.empty()) {
    fmt::print("# the config of run 0 of the sweep ({}); the runs follow\n",
               join_overrides(plan.runs.front().overrides));
    std::cout << plan.runs.front().experiment.to_toml() << "\n";
  }
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < plan.runs.size(); ++i) {
    rows.push_back({std::to_string(i), plan.runs[i].experiment.hash(), join_overrides(plan.runs[i].overrides)});
  }
  fmt::print("sweep: {}\n\n", plan.description);
  print_table({"index", "config_hash", "overrides"}, rows);
  for (const auto& dropped : plan.dropped) {
    fmt::print("dropped: {}  ({})\n", join_overrides(dropped.overrides), dropped.reason);
  }
  fmt::print("{} runs, {} dropped\n", plan.runs.size(), plan.dropped.size());
  return kExitOk;
}

}  // namespace armor::app
