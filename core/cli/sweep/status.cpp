// armor sweep status SWEEP_ID: collects, then each run with its Slurm task and state.

#include <fmt/core.h>

#include "armor/launch/slurm_launcher.h"
#include "armor/store/run_store.h"
#include "sweep/subcommands.h"
#include "sweep/support.h"

namespace armor::app {

int sweep_status(const std::vector<std::string>& args) {
  HostOptions host;
  po::options_description visible("options");
  add_db_option(visible, host);
  po::variables_map values;
  std::int64_t sweep_id = 0;
  if (!parse_sweep_args("armor sweep status SWEEP_ID   collect, then show each run with its Slurm task and state", args,
                        visible, sweep_id, values)) {
    return kExitOk;
  }
  RunStore store(host.db);
  store.reader().sweep(sweep_id);  // a StoreError names an unknown sweep
  const SlurmStatus status = slurm_status(store, sweep_id);
  print_table(status.runs, OutputFormat::table);
  fmt::print("{}\n", status.summary);
  return kExitOk;
}

}  // namespace armor::app
