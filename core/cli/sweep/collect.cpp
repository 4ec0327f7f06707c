// armor sweep collect SWEEP_ID: the results of ended Slurm tasks merged into the database.

#include <fmt/core.h>

#include "armor/launch/slurm_launcher.h"
#include "armor/store/run_store.h"
#include "sweep/subcommands.h"
#include "sweep/support.h"

namespace armor::app {

int sweep_collect(const std::vector<std::string>& args) {
  HostOptions host;
  po::options_description visible("options");
  add_db_option(visible, host);
  po::variables_map values;
  std::int64_t sweep_id = 0;
  if (!parse_sweep_args("armor sweep collect SWEEP_ID   merge the results of ended Slurm tasks into the database", args,
                        visible, sweep_id, values)) {
    return kExitOk;
  }
  RunStore store(host.db);
  store.reader().sweep(sweep_id);  // a StoreError names an unknown sweep
  const CollectSummary collected = collect_sweep(store, sweep_id);
  fmt::print("sweep {}: {} shard{} merged, {} run{} lost with {} task, {} still with Slurm\n", sweep_id,
             collected.merged, collected.merged == 1 ? "" : "s", collected.lost, collected.lost == 1 ? "" : "s",
             collected.lost == 1 ? "its" : "their", collected.active);
  return kExitOk;
}

}  // namespace armor::app
