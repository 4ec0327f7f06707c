#pragma once
// The end of a sweep's execution, whichever launcher ran it: the sweep closed (or left open for the
// workers still on it), its results table and the summary line; and what `armor sweep resume`
// puts back in the queue.

#include <cstddef>
#include <cstdint>
#include <string>

#include "armor/launch/local_launcher.h"
#include "armor/report/result_table.h"

namespace armor {

class ResultsReader;
class RunStore;

struct SweepOutcome {
  std::size_t runs = 0;
  std::size_t finished = 0;
  std::size_t running = 0;  // claimed by other workers (`armor sweep work`) or with Slurm

  std::size_t unfinished() const { return runs - finished - running; }
};

// Marks the sweep finished (or failed) unless some of its runs are still running elsewhere, in which
// case the last worker to finish closes it.
SweepOutcome finish_sweep(RunStore& store, std::int64_t sweep_id);

// The sweep's runs: run, status, overrides and each metric (clean_acc first, "-" where missing), as text.
app::ResultTable sweep_results_table(const RunStore& store, std::int64_t sweep_id);

// "sweep 1: 3 of 4 runs finished (1 failed, 0 diverged, 0 interrupted here); results in runs.db",
// then "resume with: ..." when runs are left to do.
std::string describe_sweep_end(std::int64_t sweep_id, const SweepOutcome& outcome, const LaunchSummary& summary,
                               const std::string& db);

// Counts the sweep's runs by status into a LaunchSummary (finished, failed, diverged, interrupted).
LaunchSummary summary_of_sweep(const RunStore& store, std::int64_t sweep_id);

// For `armor sweep resume`: marks this host's dead runs interrupted, then requeues the sweep's
// unfinished runs, except those that failed and whose exact config has finished since (in any
// sweep) unless `force`. Prints a line per run it skips or reaps; returns how many will run.
int requeue_unfinished_runs(RunStore& store, std::int64_t sweep_id, bool force);

}  // namespace armor
