// armor db <subcommand>: query the results database (README "Querying results").

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/util/suggest.h"
#include "command.h"
#include "db_subcommands.h"

namespace armor::app {
namespace {

struct DbSubcommand {
  const char* name;
  const char* summary;
  int (*handler)(const std::vector<std::string>& args);
};

const std::vector<DbSubcommand>& db_subcommands() {
  static const std::vector<DbSubcommand> table{
      {"list", "Runs with their status, overrides and metrics; --where, --columns, --sort", db_list},
      {"show", "One run: config, provenance, metrics, curves, experts, artifacts", db_show},
      {"compare", "Runs side by side: the params that differ and every metric", db_compare},
      {"pivot", "A metric by two params (mean ± std over runs sharing a cell)", db_pivot},
      {"best", "The run with the best metric, overall or per value of a param", db_best},
      {"export", "Every run with its params and metrics, one row each (csv or json)", db_export},
      {"sql", "One read-only SQL statement", db_sql},
      {"rm", "Remove runs or a sweep, with their output folders", db_rm},
      {"plot", "SVG plots: a metric against a param, a heat map, training curves", db_plot},
  };
  return table;
}

void print_db_usage() {
  fmt::print("usage: armor db <subcommand> [options]   (armor db <subcommand> --help for each)\n\nsubcommands:\n");
  for (const auto& subcommand : db_subcommands()) fmt::print("  {:<8} {}\n", subcommand.name, subcommand.summary);
  fmt::print("\nCommon options: --db PATH (default runs.db), --format auto|table|plain|csv|json.\n");
}

}  // namespace

int db_command(const std::vector<std::string>& args) {
  if (args.empty()) {
    print_db_usage();
    return kExitUsage;
  }
  const std::string& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    print_db_usage();
    return kExitOk;
  }
  std::vector<std::string> names;
  for (const auto& subcommand : db_subcommands()) {
    if (name == subcommand.name) return subcommand.handler(std::vector<std::string>(args.begin() + 1, args.end()));
    names.emplace_back(subcommand.name);
  }
  throw UsageError("unknown db subcommand '" + name + "'" + did_you_mean(name, names) + "; see armor db --help");
}

}  // namespace armor::app
