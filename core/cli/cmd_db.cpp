// armor db <subcommand>: query the results database (README "Querying results"). One file per
// subcommand under db/, dispatched from this table.

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/util/suggest.h"
#include "command.h"
#include "db/subcommands.h"
#include "subcommand.h"

namespace armor::app {
namespace {

const std::vector<Subcommand>& db_subcommands() {
  static const std::vector<Subcommand> table{
      {"list", "Runs with their status, overrides and metrics; --where, --columns, --sort", db_list},
      {"show", "One run: config, provenance, metrics, curves, experts, artifacts", db_show},
      {"compare", "Runs side by side, or two settings on runs paired by seed (difference, CI, t and Wilcoxon tests)",
       db_compare},
      {"pivot", "Metrics by params (mean ± 95 % CI over the seeds sharing a cell)", db_pivot},
      {"effects", "How much each swept param and pair explains of a metric (ANOVA on a grid with seeds)", db_effects},
      {"pareto", "The runs not dominated on two or three metrics (-M: minimise M)", db_pareto},
      {"best", "The run with the best metric, overall or per value of a param", db_best},
      {"export", "Every run with its params and metrics, one row each (csv or json)", db_export},
      {"sql", "One read-only SQL statement", db_sql},
      {"rm", "Remove runs or a sweep, with their output folders", db_rm},
      {"plot", "SVG plots: a metric against a param, a heat map, training curves", db_plot},
      {"curve", "Accuracy against eps from a run's robustness curves (eval.curve)", db_curve},
  };
  return table;
}

void print_db_usage() {
  fmt::print("usage: armor db <subcommand> [options]   (armor db <subcommand> --help for each)\n\nsubcommands:\n");
  for (const auto& subcommand : db_subcommands()) fmt::print("  {:<8} {}\n", subcommand.name, subcommand.summary);
  fmt::print("\nCommon options: --db PATH (default runs.db), --format auto|table|plain|csv|json|markdown.\n");
}

}  // namespace

int db_command(const std::vector<std::string>& args) {
  return dispatch_subcommand("armor db", db_subcommands(), args, print_db_usage);
}

}  // namespace armor::app
