// armor _exec-run --db PATH --run ID: executes one run claimed by a launcher, in this process
// (the run side's execute_claimed_run, armor/run/exec_run.h). With --shard PATH instead of --db (a
// Slurm task), everything goes into the run's shard database.

#include "armor/error.h"
#include "command.h"

namespace armor::app {

int exec_run_command(const std::vector<std::string>& args) {
  HostOptions host;
  ExecRunRequest request;
  po::options_description visible("options");
  add_db_option(visible, host);
  add_plugin_path_option(visible, host);
  visible.add_options()("run", po::value(&request.run_id)->required(), "Id of the claimed run to execute")(
      "shard", po::value(&request.shard),
      "Execute the run in this shard database (written by the Slurm launcher), not --db");
  po::variables_map values;
  if (!parse_command_line("armor _exec-run --db PATH --run ID | --shard PATH --run ID", args, visible,
                          po::options_description(), po::positional_options_description(), values)) {
    return kExitOk;
  }
  if (!request.shard.empty() && !values["db"].defaulted()) throw UsageError("give --db or --shard, not both");
  request.db = host.db;
  request.plugins = plugin_search(host);
  return run_side().execute_run(request);
}

}  // namespace armor::app
