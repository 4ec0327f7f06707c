#include "launch_args.h"

#include <set>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/slurm_launcher.h"
#include "armor/launch/sweep_outcome.h"
#include "armor/report/result_table.h"
#include "armor/store/run_store.h"

namespace armor::app {

LaunchOptions LaunchArgs::resolved() const {
  LaunchOptions options;
  options.db = host.db;
  options.plugin_paths = host.plugin_paths;
  // Resolved now, once: after a rebuild /proc/self/exe names "armor (deleted)".
  options.executable = self_executable();
  options.jobs = jobs;
  options.max_retries = max_retries;
  options.fail_fast = fail_fast;
  options.only_run = only_run;
  return options;
}

void add_launch_options(po::options_description& options, LaunchArgs& launch) {
  options.add_options()("jobs,j", po::value(&launch.jobs)->default_value(1),
                        "Runs at once, each in its own process; threads = 0 gives each cores/jobs threads")(
      "max-retries", po::value(&launch.max_retries)->default_value(0),
      "Retry a failed run (not a diverged one) this many times")("fail-fast", po::bool_switch(&launch.fail_fast),
                                                                 "Start no further run after one fails; resume later");
}

void check_launch_options(const LaunchArgs& launch) {
  if (launch.jobs < 1) throw UsageError(fmt::format("--jobs must be at least 1 (got {})", launch.jobs));
  if (launch.max_retries < 0) throw UsageError(fmt::format("--max-retries must be >= 0 (got {})", launch.max_retries));
}

void add_slurm_options(po::options_description& options, SlurmOptions& slurm) {
  options.add_options()("launcher", po::value(&slurm.launcher)->default_value("local"),
                        "Where runs execute: local (processes here, --jobs at a time) or slurm (one Slurm job "
                        "array; submits and returns unless --wait)")(
      "wait", po::bool_switch(&slurm.wait), "slurm: wait for the tasks, collecting results as they end")(
      "slurm-config", po::value(&slurm.config_file)->value_name("FILE"),
      "slurm: a TOML file whose [slurm] table sets partition, time, cpus_per_task, gpus_per_task, "
      "runs_per_task, max_parallel, sbatch_options = [...] (the command line wins)")(
      "slurm-partition", po::value(&slurm.partition), "slurm: partition (default: the cluster's)")(
      "slurm-time", po::value(&slurm.time), "slurm: time limit of each task, e.g. 04:00:00")(
      "slurm-cpus-per-task", po::value(&slurm.cpus_per_task), "slurm: CPUs of each task (also its training threads)")(
      "slurm-gpus-per-task", po::value(&slurm.gpus_per_task), "slurm: GPUs of each task, e.g. 1 or a100:1")(
      "slurm-runs-per-task", po::value(&slurm.runs_per_task),
      "slurm: runs each task executes, one after the other (1)")(
      "slurm-max-parallel", po::value(&slurm.max_parallel), "slurm: at most this many tasks at once (0: no limit)")(
      "sbatch-option", po::value(&slurm.sbatch_options)->composing(),
      "slurm: one more sbatch option, e.g. --sbatch-option=--account=abc (repeatable)")(
      "poll-seconds", po::value(&slurm.poll_seconds)->default_value(10), "slurm --wait: how often to ask Slurm");
}

void apply_slurm_config(SlurmOptions& slurm, const po::variables_map& values) {
  std::set<std::string> given;
  for (const auto& [name, value] : values) {
    if (!value.defaulted()) given.insert(name);
  }
  apply_slurm_config_file(slurm, given);
  check_slurm_options(slurm);
  if (!slurm.enabled()) {
    for (const char* option : {"wait", "slurm-config", "slurm-partition", "slurm-time", "slurm-cpus-per-task",
                               "slurm-gpus-per-task", "slurm-runs-per-task", "slurm-max-parallel", "sbatch-option"}) {
      if (values.count(option) > 0 && !values[option].defaulted()) {
        throw UsageError(std::string("--") + option + " needs --launcher slurm");
      }
    }
  }
}

int finish_sweep_and_report(RunStore& store, std::int64_t sweep_id, const LaunchSummary& summary,
                            const std::string& db) {
  const SweepOutcome outcome = finish_sweep(store, sweep_id);
  fmt::print("\n");
  print_table(sweep_results_table(store, sweep_id), OutputFormat::table);
  fmt::print("\n{}", describe_sweep_end(sweep_id, outcome, summary, db));
  if (outcome.unfinished() == 0) return kExitOk;
  return summary.refused > 0 ? kExitUsage : kExitFailed;
}

int wait_for_sweep(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm, const std::string& db) {
  wait_for_slurm_tasks(store, sweep_id, slurm);
  return finish_sweep_and_report(store, sweep_id, summary_of_sweep(store, sweep_id), db);
}

}  // namespace armor::app
