// armor sweep resume SWEEP_ID [--force]: finishing a sweep that was stopped, failed or killed.

#include <fmt/core.h>

#include "armor/launch/slurm_launcher.h"
#include "armor/launch/sweep_outcome.h"
#include "armor/store/run_store.h"
#include "sweep/subcommands.h"
#include "sweep/support.h"

namespace armor::app {

int sweep_resume(const std::vector<std::string>& args) {
  LaunchArgs launch;
  SlurmOptions slurm;
  bool force = false;
  po::options_description visible("options");
  add_launch_options(visible, launch);
  add_slurm_options(visible, slurm);
  visible.add_options()("force", po::bool_switch(&force),
                        "Also run configs that a finished run elsewhere already trained");
  add_db_option(visible, launch.host);
  add_plugin_path_option(visible, launch.host);
  po::variables_map values;
  std::int64_t sweep_id = 0;
  if (!parse_sweep_args("armor sweep resume SWEEP_ID   run what did not finish: pending, failed, diverged,\n"
                        "                                 interrupted and dead runs, nothing twice",
                        args, visible, sweep_id, values)) {
    return kExitOk;
  }
  check_launch_options(launch);
  apply_slurm_config(slurm, values);
  RunStore store(launch.host.db);
  store.reader().sweep(sweep_id);                       // a StoreError names an unknown sweep
  run_side().load_plugins(plugin_search(launch.host));  // a plugin problem shows here, not in every run
  // Runs with Slurm tasks are brought up to date first: those that ended without a record resume.
  collect_sweep(store, sweep_id);
  const int queued = requeue_unfinished_runs(store, sweep_id, force);
  fmt::print("sweep {}: {} run{} to do\n", sweep_id, queued, queued == 1 ? "" : "s");
  if (queued == 0 && !slurm.enabled()) return finish_sweep_and_report(store, sweep_id, LaunchSummary{}, launch.host.db);
  return execute_sweep(store, sweep_id, launch, slurm);
}

}  // namespace armor::app
