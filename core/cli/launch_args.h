#pragma once
// The launchers' settings as the command line gives them (--jobs, --max-retries, --fail-fast,
// --launcher slurm, --slurm-*), made into the host's plain structs (armor/launch/...), and the end
// of a sweep's execution as `armor run` and `armor sweep` print it.

#include <cstdint>
#include <optional>
#include <string>

#include "armor/launch/local_launcher.h"
#include "armor/launch/slurm_options.h"
#include "command.h"

namespace armor {
class RunStore;
}

namespace armor::app {

struct LaunchArgs {
  HostOptions host;  // --db, --plugin-path
  int jobs = 1;
  int max_retries = 0;
  bool fail_fast = false;
  std::optional<std::int64_t> only_run;

  // The host's LaunchOptions: these settings, the database and plugin paths, and this program as
  // the executable of each run process.
  LaunchOptions resolved() const;
};

// --jobs, --max-retries, --fail-fast; and their check (UsageError).
void add_launch_options(po::options_description& options, LaunchArgs& launch);
void check_launch_options(const LaunchArgs& launch);

// --launcher, --wait, --slurm-*; then apply_slurm_config fills what the command line left unset
// from --slurm-config's [slurm] table and checks everything (UsageError / ConfigError).
void add_slurm_options(po::options_description& options, SlurmOptions& slurm);
void apply_slurm_config(SlurmOptions& slurm, const po::variables_map& values);

// Closes the sweep (unless other workers are on it), prints its results table and summary; the exit
// code: 0 when every run finished, 2 when one was refused its folder or checkpoint, 1 otherwise.
int finish_sweep_and_report(RunStore& store, std::int64_t sweep_id, const LaunchSummary& summary,
                            const std::string& db);

// --wait: collects the sweep's Slurm tasks until none is left, then finish_sweep_and_report.
int wait_for_sweep(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm, const std::string& db);

}  // namespace armor::app
