#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include <fmt/core.h>

#include "armor/data/builtin_datasets.h"
#include "armor/error.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"
#include "armor/util/blas_check.h"
#include "command.h"
#include "armor/report/result_table.h"

#ifndef ARMOR_BUILD_PLUGIN_DIR
#define ARMOR_BUILD_PLUGIN_DIR ""
#endif
#ifndef ARMOR_INSTALL_PLUGIN_DIR
#define ARMOR_INSTALL_PLUGIN_DIR ""
#endif

namespace armor::app {

const std::vector<Command>& commands() {
  static const std::vector<Command> table{
      {"run", "Run an experiment, or a sweep of it with --multirun", run_command, false},
      {"config", "Print the composed, resolved config of an experiment", config_command, false},
      {"plugins", "List the registered plugins, or `show KIND/NAME` with its parameters", plugins_command, false},
      {"sweep", "Work on a sweep from another terminal, resume one, or collect its Slurm tasks: work, resume, collect, status", sweep_command, false},
      {"db", "Query the results database: list, show, compare, pivot, best, export, sql, rm, plot", db_command, false},
      {"eval", "Evaluate a finished run again (other attacks, MoE passes), or a TorchScript model", eval_command, false},
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

std::string self_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

std::string source_revision() {
#ifdef ARMOR_SOURCE_DIR
  const std::string command = std::string("git -C '") + ARMOR_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[128] = {0};
    std::string text = fgets(buffer, sizeof buffer, pipe) != nullptr ? buffer : "";
    pclose(pipe);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (!text.empty()) return text;
  }
#endif
  return "unknown";
}

void warn_if_reference_blas() {
  if (const auto warning = reference_blas_warning()) fmt::print(stderr, "armor: warning: {}\n", *warning);
}

std::string host_name() {
  char buffer[256] = {0};
  return gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown";
}

std::vector<std::string> default_plugin_dirs() {
  namespace fs = std::filesystem;
  const fs::path exe_dir = fs::path(self_executable()).parent_path();
  // An installed armor (<prefix>/bin/armor) loads the plugins installed with it, and only those:
  // never the build tree's, which may be newer, older or gone.
  const fs::path installed = exe_dir.parent_path() / "lib" / "armor" / "plugins";
  if (fs::is_directory(installed)) return {installed.string()};
  // In the build tree the plugins are next to the program.
  std::vector<std::string> dirs{(exe_dir / "plugins").string()};
  if (std::string(ARMOR_BUILD_PLUGIN_DIR) != dirs.front() && !std::string(ARMOR_BUILD_PLUGIN_DIR).empty()) {
    dirs.emplace_back(ARMOR_BUILD_PLUGIN_DIR);
  }
  if (!std::string(ARMOR_INSTALL_PLUGIN_DIR).empty()) dirs.emplace_back(ARMOR_INSTALL_PLUGIN_DIR);
  return dirs;
}

namespace {
std::vector<std::string>& plugin_libraries() {
  static std::vector<std::string> libraries;
  return libraries;
}
}  // namespace

Registry& load_registry(const HostOptions& host) {
  // Lives as long as the process: its factories point into plugin libraries that are never unloaded.
  static auto* registry = new Registry();
  static bool loaded = false;
  if (!loaded) {
    register_builtin_datasets(*registry);
    PluginLoader loader(*registry);
    loader.load_search_path(host.plugin_paths, default_plugin_dirs());
    for (const auto& plugin : loader.loaded()) plugin_libraries().push_back(plugin.path);
    loaded = true;
  }
  return *registry;
}

const std::vector<std::string>& loaded_plugin_libraries() { return plugin_libraries(); }

void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows) {
  ResultTable table;
  table.columns = columns;
  for (const auto& row : rows) table.rows.emplace_back(row.begin(), row.end());
  print_table(table, OutputFormat::table);
}

}  // namespace armor::app
