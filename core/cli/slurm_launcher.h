#pragma once
// The Slurm launcher: the pending runs of a sweep become one Slurm job array, one task per run (or
// per chunk of `runs_per_task` runs), each task executing `armor _exec-run --shard` on its runs.
//
// A task never opens runs.db: it writes its run into the run's shard database
// (<output_dir>/shard.db, created by the submitting process with the run's record). The collecting
// process (`armor sweep collect`, `status`, `resume`, and `--wait`) merges the shards of ended runs
// into runs.db, one transaction per shard, then renames the shard to shard-collected.db; a merge
// replaces what runs.db held for the run, so a collect interrupted between the two merges the same
// shard again with the same result. Runs whose task ended without the run recording its end
// (killed, timed out, preempted, node failure) are marked interrupted or failed, with Slurm's
// state in the error. In runs.db a submitted run is `running` with worker "slurm:<job>_<task>".

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "command.h"
#include "launcher.h"

namespace armor {
class RunStore;
}

namespace armor::app {

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

// --launcher, --wait, --slurm-*; then apply_slurm_config fills what the command line left unset
// from --slurm-config's [slurm] table and checks everything (UsageError / ConfigError).
void add_slurm_options(po::options_description& options, SlurmOptions& slurm);
void apply_slurm_config(SlurmOptions& slurm, const po::variables_map& values);

// Training threads of a run whose config says threads = 0: the task's CPUs.
std::int64_t slurm_threads_per_run(const SlurmOptions& slurm);

// Submits the sweep's pending runs as one job array and marks them running. Returns the number of
// runs submitted (0: none was pending). Throws RunError (runs back to pending) when sbatch fails.
int submit_sweep(RunStore& store, std::int64_t sweep_id, const HostOptions& host, const SlurmOptions& slurm);

struct CollectSummary {
  int merged = 0;   // shards of ended runs brought into runs.db
  int lost = 0;     // runs whose task ended without recording the run's end
  int active = 0;   // runs whose task is still queued or running
  std::map<std::int64_t, std::string> slurm_state;  // run id -> its task's Slurm state, where known
};

// Merges the shards of ended runs and marks runs whose task ended without a record; prints one line
// per run it changed. Asks squeue, then sacct where accounting is on, before reading any shard.
CollectSummary collect_sweep(RunStore& store, std::int64_t sweep_id);

// Collects every `poll_seconds` until no run of the sweep is with Slurm, then finishes the sweep
// and prints its report; the exit code.
int wait_for_sweep(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm, const std::string& db);

// armor sweep status: collects, then prints each run with its task and Slurm state.
void print_slurm_status(RunStore& store, std::int64_t sweep_id);

}  // namespace armor::app
