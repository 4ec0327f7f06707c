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

#include "armor/launch/launch_options.h"
#include "armor/launch/slurm_options.h"
#include "armor/report/result_table.h"

namespace armor {

class RunStore;

// The task script (bash): task i of the array runs lines i*R+1 .. i*R+R of `tasks_file` (run id,
// shard, log, tab-separated), each with `<executable> _exec-run --shard` and the plugin paths.
std::string slurm_task_script(const std::string& tasks_file, int runs_per_task, const std::string& executable,
                              const std::vector<std::string>& plugin_paths);

// sbatch's arguments for a job array of `tasks` tasks, from the settings (no shell: one word each).
std::vector<std::string> sbatch_arguments(const SlurmOptions& slurm, std::int64_t sweep_id, int tasks,
                                          const std::string& folder, const std::string& script);

// Submits the sweep's pending runs as one job array and marks them running. Returns the number of
// runs submitted (0: none was pending). Throws RunError (runs back to pending) when sbatch fails.
// Uses `launch.executable` and `launch.plugin_paths` for the tasks.
int submit_sweep(RunStore& store, std::int64_t sweep_id, const LaunchOptions& launch, const SlurmOptions& slurm);

struct CollectSummary {
  int merged = 0;                                   // shards of ended runs brought into runs.db
  int lost = 0;                                     // runs whose task ended without recording the run's end
  int active = 0;                                   // runs whose task is still queued or running
  std::map<std::int64_t, std::string> slurm_state;  // run id -> its task's Slurm state, where known
};

// Merges the shards of ended runs and marks runs whose task ended without a record; prints one line
// per run it changed. Asks squeue, then sacct where accounting is on, before reading any shard.
CollectSummary collect_sweep(RunStore& store, std::int64_t sweep_id);

// Collects every `poll_seconds` until no run of the sweep is with Slurm. The sweep is left for
// finish_sweep (armor/launch/sweep_outcome.h).
void wait_for_slurm_tasks(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm);

struct SlurmStatus {
  app::ResultTable runs;  // run, #, status, slurm task, slurm state, error
  std::string summary;    // "sweep 1: 3 finished, 1 running"
};

// armor sweep status: collects, marks this host's dead local runs interrupted, then each run with
// its task and Slurm state.
SlurmStatus slurm_status(RunStore& store, std::int64_t sweep_id);

}  // namespace armor
