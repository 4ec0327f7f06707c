#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/report/result_table.h"
#include "command.h"

namespace armor::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> table{
      {"run", "Run an experiment, or a sweep of it with --multirun", run_command, false},
      {"config", "Print the composed, resolved config of an experiment", config_command, false},
      {"plugins", "List the registered plugins, or `show KIND/NAME` with its parameters", plugins_command, false},
      {"sweep",
       "Work on a sweep from another terminal, resume one, or collect its Slurm tasks: work, resume, collect, status",
       sweep_command, false},
      {"db", "Query the results database: list, show, compare, pivot, best, export, sql, rm, plot", db_command, false},
      {"eval", "Evaluate a finished run again (other attacks, MoE passes), or a TorchScript model", eval_command,
       false},
      {"report", "Write one self-contained HTML page about a sweep: config, tables and charts", report_command, false},
      {"_exec-run", "Execute one recorded run (used by `armor run`)", exec_run_command, true},
  };
  return table;
}

void add_db_option(po::options_description& options, HostOptions& host) {
  options.add_options()("db", po::value(&host.db)->default_value("runs.db"),
                        "Results database (SQLite; created on first use)");
}

void add_plugin_path_option(po::options_description& options, HostOptions& host) {
  options.add_options()("plugin-path", po::value(&host.plugin_paths)->composing(),
                        "Folder or .so to load plugins from, searched before ARMOR_PLUGIN_PATH and the "
                        "build's plugin folder (repeatable)");
}

bool parse_command_line(const std::string& usage, const std::vector<std::string>& args,
                        po::options_description& visible, const po::options_description& hidden,
                        const po::positional_options_description& positional, po::variables_map& values) {
  visible.add_options()("help,h", "Show this help");
  po::options_description all;
  all.add(visible).add(hidden);
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), values);
    if (values.count("help") != 0) {
      std::cout << usage << "\n\n" << visible << "\n";
      return false;
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw UsageError(std::string(error.what()) + "\nusage: " + usage);
  }
  return true;
}

void warn_if_reference_blas() {
  if (const auto warning = run_side().reference_blas_warning()) fmt::print(stderr, "armor: warning: {}\n", *warning);
}

PluginSearch plugin_search(const HostOptions& host) { return PluginSearch{host.plugin_paths, default_plugin_dirs()}; }

void add_sweep_options(po::options_description& options, SweepCommandLine& sweep) {
  options.add_options()("constraint", po::value(&sweep.constraints)->composing(),
                        "Sweep: run only the points where this holds, e.g. 'trainer.lr <= 0.1' "
                        "(the armor db --where syntax; repeatable; the plugins' declared constraints, such as "
                        "model.k <= model.num_experts, are always implied)")(
      "sweeper", po::value(&sweep.sweeper),
      "Sweep: grid (every point, the default) or random (--trials points; "
      "uniform(a,b), loguniform(a,b), randint(a,b) allowed)")("trials", po::value(&sweep.trials),
                                                              "Random search: how many points to draw (default 10)")(
      "early-stop", po::value(&sweep.early_stop),
      "Sweep: asha (successive halving on an epoch metric; settings in [sweep] early_stop) or none");
}

void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows) {
  ResultTable table;
  table.columns = columns;
  for (const auto& row : rows) table.rows.emplace_back(row.begin(), row.end());
  print_table(table, OutputFormat::table);
}

}  // namespace armor::app
