// armor sweep <subcommand>: more hands on a sweep, finishing one that was stopped, failed or killed,
// and the results and states of its Slurm tasks. One file per subcommand under sweep/, dispatched
// from this table.

#include <fmt/core.h>

#include "command.h"
#include "subcommand.h"
#include "sweep/subcommands.h"

namespace armor::app {
namespace {

const std::vector<Subcommand>& sweep_subcommands() {
  static const std::vector<Subcommand> table{
      {"work", "Execute pending runs of a sweep (run it in several terminals)", sweep_work},
      {"resume", "Run what did not finish: pending, failed, diverged, interrupted and dead runs, nothing twice",
       sweep_resume},
      {"collect", "Merge the results of ended Slurm tasks into the database", sweep_collect},
      {"status", "Collect, then show each run with its Slurm task and state", sweep_status},
  };
  return table;
}

void print_sweep_usage() {
  fmt::print(
      "usage: armor sweep <subcommand> SWEEP_ID [options]   (armor sweep <subcommand> --help for each)\n\n"
      "subcommands:\n");
  for (const auto& subcommand : sweep_subcommands()) fmt::print("  {:<8} {}\n", subcommand.name, subcommand.summary);
  fmt::print("\nCommon options: --db PATH (default runs.db).\n");
}

}  // namespace

int sweep_command(const std::vector<std::string>& args) {
  return dispatch_subcommand("armor sweep", sweep_subcommands(), args, print_sweep_usage);
}

}  // namespace armor::app
