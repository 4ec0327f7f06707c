#pragma once
// The Slurm launcher's settings (armor/launch/slurm_launcher.h): from the command line
// (--launcher slurm, --slurm-*), then a TOML file's [slurm] table for what the command line left unset.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace armor {

struct SlurmOptions {
  std::string launcher = "local";           // local | slurm
  std::string config_file;                  // a TOML file with a [slurm] table of the settings below
  std::string partition;                    // "" = the cluster's default
  std::string time;                         // --time of each task, e.g. "04:00:00"; "" = the partition's
  int cpus_per_task = 0;                    // 0 = Slurm's default (and 1 training thread)
  std::string gpus_per_task;                // e.g. "1" or "a100:1"; "" = none
  int runs_per_task = 1;                    // runs executed one after the other by each task
  int max_parallel = 0;                     // at most this many tasks at once (--array=...%N); 0 = no limit
  std::vector<std::string> sbatch_options;  // more sbatch options, as given: "--account=x", "--qos=y"
  bool wait = false;                        // wait for the tasks, collecting as they end
  double poll_seconds = 10;                 // how often --wait asks Slurm

  bool enabled() const { return launcher == "slurm"; }
};

// Fills the settings `given` does not name (command-line names: "slurm-partition", "slurm-time",
// "slurm-cpus-per-task", ...) from `slurm.config_file`'s [slurm] table, when there is one: partition,
// time, cpus_per_task, gpus_per_task, runs_per_task, max_parallel, sbatch_options (the file's first).
// ConfigError naming the file and key for a bad or unknown key.
void apply_slurm_config_file(SlurmOptions& slurm, const std::set<std::string>& given);

// UsageError for a bad value: the launcher's name, counts below their minimum, an sbatch option
// that is not one.
void check_slurm_options(const SlurmOptions& slurm);

// Training threads of a run whose config says threads = 0: the task's CPUs.
std::int64_t slurm_threads_per_run(const SlurmOptions& slurm);

}  // namespace armor
