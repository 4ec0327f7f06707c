// armor sweep work SWEEP_ID: more hands on a sweep; its pending runs executed here (or sent to Slurm).

#include "armor/launch/slurm_launcher.h"
#include "armor/store/run_store.h"
#include "sweep/subcommands.h"
#include "sweep/support.h"

namespace armor::app {

int sweep_work(const std::vector<std::string>& args) {
  LaunchArgs launch;
  SlurmOptions slurm;
  po::options_description visible("options");
  add_launch_options(visible, launch);
  add_slurm_options(visible, slurm);
  add_db_option(visible, launch.host);
  add_plugin_path_option(visible, launch.host);
  po::variables_map values;
  std::int64_t sweep_id = 0;
  if (!parse_sweep_args("armor sweep work SWEEP_ID   execute pending runs of a sweep (run it in several terminals)",
                        args, visible, sweep_id, values)) {
    return kExitOk;
  }
  check_launch_options(launch);
  apply_slurm_config(slurm, values);
  RunStore store(launch.host.db);
  store.reader().sweep(sweep_id);                       // a StoreError names an unknown sweep
  run_side().load_plugins(plugin_search(launch.host));  // a plugin problem shows here, not in every run
  // Runs with Slurm tasks are brought up to date first.
  collect_sweep(store, sweep_id);
  return execute_sweep(store, sweep_id, launch, slurm);
}

}  // namespace armor::app
