#pragma once
// RunQueue: the life of runs and sweeps in the results database, as the launcher drives it. Runs are
// recorded pending (add_run, add_sweep), claimed by a worker (claim_run, atomic across processes),
// started and kept alive (start_run, heartbeat), ended (finish_run, fail_run), found dead by a
// liveness check the caller passes in (reap_dead_runs), put back (requeue) or removed (`armor db rm`).
// Every method is one write transaction. Get one from RunStore::queue().

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/store/store_records.h"

namespace SQLite {
class Database;
}

namespace armor {

class RunQueue {
 public:
  // Over a connection that `db`'s owner (RunStore) keeps open longer than this queue.
  RunQueue(SQLite::Database& db, std::string path);

  // A single run outside any sweep, status pending. Returns its id.
  std::int64_t add_run(const NewRun& run);
  // A sweep and all its runs (status pending), in one transaction. Returns the run ids in order.
  std::pair<std::int64_t, std::vector<std::int64_t>> add_sweep(const NewSweep& sweep, const std::vector<NewRun>& runs);
  // Marks the sweep done: "finished" when every run finished, otherwise "failed".
  void finish_sweep(std::int64_t sweep_id);

  // Atomically claims the pending run of `sweep_id` with the lowest idx (or `only_run`): status
  // running, worker set, attempt + 1, heartbeat now. nullopt when none is pending.
  std::optional<std::int64_t> claim_run(std::int64_t sweep_id, const std::string& worker,
                                        std::optional<std::int64_t> only_run = std::nullopt);
  // Names the worker of a running run (the Slurm task that executes it); false if it is not running.
  bool assign_worker(std::int64_t run_id, const std::string& worker);
  // The process executing a claimed run says it started (pid, started_at, heartbeat).
  void start_run(std::int64_t run_id, std::int64_t pid = 0);
  void heartbeat(std::int64_t run_id);
  // Writes the final metrics and marks the run finished, in one transaction.
  void finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics);
  // Marks a pending or running run failed (or diverged / interrupted) with its reason; a finished
  // run is never changed.
  void fail_run(std::int64_t run_id, const std::string& error, RunStatus status = RunStatus::failed);

  // Marks the `running` runs of the sweep interrupted whose process `liveness` says is gone (see
  // ResultsReader::dead_runs), with why. Returns their ids.
  std::vector<std::int64_t> reap_dead_runs(std::int64_t sweep_id, const ProcessLiveness& liveness);
  // Puts every run of the sweep that is failed, diverged or interrupted back to pending (error
  // cleared, attempt kept). Returns their ids.
  std::vector<std::int64_t> requeue(std::int64_t sweep_id);
  // Puts one failed, diverged or interrupted run back to pending (for retries); false otherwise.
  bool requeue_run(std::int64_t run_id);

  // Delete runs (with everything recorded about them) or a sweep and its runs, in one transaction.
  // Return the output folders of the deleted runs, for the caller to remove.
  std::vector<std::string> remove_runs(const std::vector<std::int64_t>& run_ids);
  std::vector<std::string> remove_sweep(std::int64_t sweep_id);

 private:
  std::int64_t insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run);

  SQLite::Database& db_;
  std::string path_;
};

}  // namespace armor
