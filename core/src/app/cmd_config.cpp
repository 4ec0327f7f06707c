// armor config EXPERIMENT [overrides...] [--multirun]: prints the composed and resolved config
// (every key, defaults filled), or with --multirun the list of runs a sweep would make.

#include <iostream>

#include <fmt/core.h>

#include "armor/config/config.h"
#include "armor/config/sweep.h"
#include "armor/plugin/registry.h"
#include "armor/run/experiment.h"
#include "command.h"

namespace armor::app {

int config_command(const std::vector<std::string>& args) {
  HostOptions host;
  bool multirun = false;
  std::string experiment_path;
  std::vector<std::string> overrides;
  po::options_description visible("options");
  visible.add_options()("multirun,m", po::bool_switch(&multirun), "Print the runs of the sweep instead (a dry run)");
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
  Config::load(experiment_path);  // a missing file or bad TOML fails before anything else
  const Registry& registry = load_registry(host);
  if (!multirun) {
    Config config = Config::load(experiment_path);  // a copy would lose the file positions
    config.apply(overrides);
    std::cout << resolve_experiment(config, registry).to_toml();
    return kExitOk;
  }
  const auto points = expand_multirun(overrides);
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < points.size(); ++i) {
    Config config = Config::load(experiment_path);  // a copy would lose the file positions
    config.apply(points[i]);
    const Experiment experiment = resolve_experiment(config, registry);  // validates every point
    std::string text;
    for (const auto& o : points[i]) text += (text.empty() ? "" : " ") + o;
    rows.push_back({std::to_string(i), experiment.hash(), text});
  }
  print_table({"index", "config_hash", "overrides"}, rows);
  fmt::print("{} runs\n", points.size());
  return kExitOk;
}

}  // namespace armor::app
