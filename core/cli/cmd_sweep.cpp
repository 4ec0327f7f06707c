// armor sweep work SWEEP | armor sweep resume SWEEP [--force]: more hands on a sweep, and
// finishing a sweep that was stopped, failed or killed; with --launcher slurm the runs go to Slurm.
// armor sweep collect SWEEP | armor sweep status SWEEP: results and states of a sweep's Slurm tasks.

#include <unistd.h>

#include <map>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/process_liveness.h"
#include "armor/store/run_store.h"
#include "command.h"
#include "launcher.h"
#include "slurm_launcher.h"

namespace armor::app {

namespace {

// Requeues the sweep's unfinished runs, except those whose config already finished elsewhere
// (unless `force`); returns how many will run.
int prepare_resume(RunStore& store, std::int64_t sweep_id, bool force) {
  const auto reaped = store.queue().reap_dead_runs(sweep_id, local_process_liveness(host_name(), kStaleAfterSeconds));
  for (const auto id : reaped) fmt::print("run {}: its process is gone; marked interrupted\n", id);
  int queued = 0;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    if (run.status == RunStatus::finished || run.status == RunStatus::running) continue;
    // A run that never ran always runs; one that failed is not retried when its exact config has
    // finished since (in any sweep).
    if (!force && run.status != RunStatus::pending) {
      if (const auto twin = store.reader().finished_run_with_hash(run.config_hash)) {
        fmt::print("run {}: skipped, its config already finished as run {} (--force runs it)\n", run.id, *twin);
        continue;
      }
    }
    if (run.status != RunStatus::pending && !store.queue().requeue_run(run.id)) continue;
    ++queued;
  }
  return queued;
}

}  // namespace

int sweep_command(const std::vector<std::string>& args) {
  LaunchOptions launch;
  bool force = false;
  SlurmOptions slurm;
  std::vector<std::string> positional_args;
  po::options_description visible("options");
  add_launch_options(visible, launch);
  add_slurm_options(visible, slurm);
  visible.add_options()("force", po::bool_switch(&force), "resume: also run configs that already finished elsewhere");
  add_db_option(visible, launch.host);
  add_plugin_path_option(visible, launch.host);
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional_args)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  po::variables_map values;
  if (!parse_command_line("armor sweep work SWEEP_ID     execute pending runs of a sweep (run it in several terminals)\n"
                          "       armor sweep resume SWEEP_ID   run what did not finish: pending, failed, diverged,\n"
                          "                                     interrupted and dead runs, nothing twice\n"
                          "       armor sweep collect SWEEP_ID  merge the results of ended Slurm tasks into the database\n"
                          "       armor sweep status SWEEP_ID   collect, then show each run with its Slurm task and state",
                          args, visible, hidden, positional, values)) {
    return kExitOk;
  }
  check_launch_options(launch);
  apply_slurm_config(slurm, values);
  const std::string action = positional_args.empty() ? "" : positional_args[0];
  if (positional_args.size() != 2 ||
      (action != "work" && action != "resume" && action != "collect" && action != "status")) {
    throw UsageError("expected `armor sweep work|resume|collect|status SWEEP_ID`");
  }
  std::int64_t sweep_id = 0;
  try {
    sweep_id = std::stoll(positional_args[1]);
  } catch (const std::exception&) {
    throw UsageError("SWEEP_ID must be a number (got '" + positional_args[1] + "')");
  }
  RunStore store(launch.host.db);
  store.reader().sweep(sweep_id);  // a StoreError names an unknown sweep
  if (action == "collect" || action == "status") {
    if (action == "status") {
      print_slurm_status(store, sweep_id);
      return kExitOk;
    }
    const CollectSummary collected = collect_sweep(store, sweep_id);
    fmt::print("sweep {}: {} shard{} merged, {} run{} lost with {} task, {} still with Slurm\n", sweep_id,
               collected.merged, collected.merged == 1 ? "" : "s", collected.lost, collected.lost == 1 ? "" : "s",
               collected.lost == 1 ? "its" : "their", collected.active);
    return kExitOk;
  }
  load_registry(launch.host);  // a plugin problem shows here, not in every run
  // Runs with Slurm tasks are brought up to date first: those that ended without a record resume.
  collect_sweep(store, sweep_id);
  if (action == "resume") {
    const int queued = prepare_resume(store, sweep_id, force);
    fmt::print("sweep {}: {} run{} to do\n", sweep_id, queued, queued == 1 ? "" : "s");
    if (queued == 0 && !slurm.enabled()) return finish_sweep_and_report(store, sweep_id, LaunchSummary{}, launch.host.db);
  }
  if (slurm.enabled()) {
    submit_sweep(store, sweep_id, launch.host, slurm);
    if (slurm.wait) return wait_for_sweep(store, sweep_id, slurm, launch.host.db);
    return kExitOk;
  }
  const LaunchSummary summary = work_on_sweep(store, sweep_id, launch);
  return finish_sweep_and_report(store, sweep_id, summary, launch.host.db);
}

}  // namespace armor::app
