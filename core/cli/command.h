#pragma once
// The armor program's subcommands: one table (commands.cpp), one file per subcommand, and the
// options every subcommand shares. Nothing below main() calls exit(): handlers return the exit code
// or throw an armor::Error, which main() maps to one (README: "Exit codes").

#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "armor/host/program_info.h"
#include "armor/host/run_side.h"
#include "armor/sweep/sweep_plan.h"

namespace armor {
namespace app {

namespace po = boost::program_options;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // a run failed, or the store failed
constexpr int kExitUsage = 2;   // bad command line, config or plugin

struct Command {
  const char* name;
  const char* summary;
  int (*handler)(const std::vector<std::string>& args);
  bool hidden;  // internal commands, not listed in --help
};

const std::vector<Command>& commands();

// Options shared by the subcommands that need them.
struct HostOptions {
  std::string db = "runs.db";
  std::vector<std::string> plugin_paths;
};
void add_db_option(po::options_description& options, HostOptions& host);
void add_plugin_path_option(po::options_description& options, HostOptions& host);

// Parses `args` with `visible` (printed by --help) and `hidden` positional options. Returns false
// after printing help when --help was given. Program_options errors become UsageErrors.
bool parse_command_line(const std::string& usage, const std::vector<std::string>& args,
                        po::options_description& visible, const po::options_description& hidden,
                        const po::positional_options_description& positional, po::variables_map& values);

// The plugin search path these options give (--plugin-path, then ARMOR_PLUGIN_PATH, then the defaults).
PluginSearch plugin_search(const HostOptions& host);

// --constraint, --sweeper, --trials, --early-stop.
void add_sweep_options(po::options_description& options, SweepCommandLine& sweep);

// Before training or evaluating: a warning on stderr when matrix products would run on the
// reference BLAS (see armor/util/blas_check.h). Loads the run side.
void warn_if_reference_blas();

// Prints rows as an aligned text table.
void print_table(const std::vector<std::string>& columns, const std::vector<std::vector<std::string>>& rows);

int run_command(const std::vector<std::string>& args);
int config_command(const std::vector<std::string>& args);
int plugins_command(const std::vector<std::string>& args);
int db_command(const std::vector<std::string>& args);
int exec_run_command(const std::vector<std::string>& args);
int sweep_command(const std::vector<std::string>& args);
int report_command(const std::vector<std::string>& args);
int eval_command(const std::vector<std::string>& args);

}  // namespace app
}  // namespace armor
