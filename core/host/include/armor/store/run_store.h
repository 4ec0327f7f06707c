#pragma once
// RunStore: the results database (runs.db) opened for writing, the one connection that a writing
// process (launcher, executor, `armor db rm`) holds, handed out by intent:
//   queue()    RunQueue       runs and sweeps added, claimed, started, ended, reaped, requeued, removed
//   records()  RecordWriter   what a run records while it executes: curves, artifacts, provenance, ...
//   shards()   ShardExchange  the databases of runs executed elsewhere (Slurm tasks), out and back
//   reader()   ResultsReader  every read; a read-only process opens a ResultsReader of its own instead
// All SQL of armor lives behind these classes (core/host/src/store). The schema and its migrations are
// in store_schema.cpp; the README's "Results database schema" describes the tables:
//   sweeps(id, uid, name, experiment, spec, status, created_at, finished_at)
//   runs(id, uid, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
//        created_at, started_at, finished_at, error, output_dir, worker, pid, attempt, heartbeat_at)
//   params(run_id, key, value, type)           every resolved config key, dotted, typed
//   metrics(run_id, key, value)                final metrics: clean_acc, <attack>_acc, ...
//   epoch_metrics(run_id, epoch, key, value)   training curves
//   expert_metrics(run_id, layer, expert, key, value)
//   artifacts(run_id, kind, path, sha256, recorded_at)
//   provenance(run_id, key, value)
//   image_results(run_id, image, clean_correct, robust, broken_by)   per test image, the worst case
//   eval_checks(run_id, metric, check, value, flagged, detail)       attack-validity checks
//   robustness_curves(run_id, metric, image, min_eps, max_eps)       per test image, the eps that broke it
// and the views results (one row per run, params and metrics as columns), curves (one row per run
// and epoch), experts (one row per run, layer and expert), kept current by every write.
// Ids are never reused (AUTOINCREMENT); a uid (32 hex digits, random) identifies a sweep or run across
// every database: it names output folders and is written into checkpoints.
// Every public write is one transaction: a killed process never leaves half a record.

#include <memory>
#include <string>

#include "armor/store/record_writer.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_queue.h"
#include "armor/store/shard_exchange.h"
#include "armor/store/store_records.h"

namespace SQLite {
class Database;
}

namespace armor {

class RunStore {
 public:
  static constexpr int kSchemaVersion = 6;  // PRAGMA user_version of a current database
  // read_write creates and migrates; shard opens an existing shard (ShardExchange::export_run_shard)
  // read-write, never creates or migrates, and keeps SQLite's rollback journal: WAL's shared memory
  // does not work across the hosts of a network file system.
  enum class Mode { read_write, shard };

  // Opens (and in read_write mode creates and migrates) the database at `path`; ":memory:" works.
  // Refuses a database whose user_version is newer than kSchemaVersion, naming both versions.
  explicit RunStore(const std::string& path, Mode mode = Mode::read_write);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const noexcept { return path_; }

  RunQueue& queue() noexcept { return queue_; }
  RecordWriter& records() noexcept { return records_; }
  ShardExchange& shards() noexcept { return shards_; }
  const ResultsReader& reader() const noexcept { return reader_; }

 private:
  std::string path_;
  std::unique_ptr<SQLite::Database> db_;  // before the parts, which hold references to it
  RunQueue queue_;
  RecordWriter records_;
  ShardExchange shards_;
  ResultsReader reader_;
};

}  // namespace armor
