#pragma once
// RunStore: the results database (runs.db). All SQL of armor lives behind this class.
//
// Schema (version kSchemaVersion, kept in PRAGMA user_version; README "Results database schema"):
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
// Ids are never reused (AUTOINCREMENT); a uid (32 hex digits, random) identifies a sweep or run across
// every database: it names output folders and is written into checkpoints.
// and the views results (one row per run, params and metrics as columns), curves (one row per run
// and epoch), experts (one row per run, layer and expert), kept current by every write.
// Every public write is one transaction: a killed process never leaves half a record.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/params/param_value.h"

namespace SQLite {
class Database;
}

namespace armor {

struct WhereSql;  // store/where_sql.h, internal

// pending: recorded, not started; running: claimed by a worker; finished; failed (threw or crashed);
// diverged (non-finite loss); interrupted (its process vanished: killed, or no heartbeat).
enum class RunStatus { pending, running, finished, failed, diverged, interrupted };
const char* to_string(RunStatus status);
RunStatus run_status_from_string(const std::string& text);  // throws StoreError on an unknown status

// What the host knows about a run before it starts.
struct NewRun {
  int index = 0;                        // position in its sweep (0 for a single run)
  std::string experiment;               // the experiment file as given
  std::string config;                   // the fully resolved config, as TOML text
  std::vector<std::string> overrides;   // the command-line overrides of this run, in order
  std::string config_hash;
  std::int64_t seed = 0;
  std::string revision;                 // source revision of the armor build
  std::string host;
  std::vector<std::pair<std::string, ParamValue>> params;  // dotted key -> typed value
  std::string output_dir;               // the run's output folder ("" = none yet)
};

struct NewSweep {
  std::string name;
  std::string experiment;
  std::string spec;  // the sweep's override lists, as given on the command line
};

struct SweepRecord {
  std::int64_t id = 0;
  std::string uid;  // unique across databases
  std::string name;
  std::string experiment;
  std::string spec;
  std::string status;
  std::string created_at;
  std::string finished_at;
};

struct RunRecord {
  std::int64_t id = 0;
  std::string uid;  // unique across databases: its folder's and checkpoints' identity
  std::optional<std::int64_t> sweep_id;
  int index = 0;
  RunStatus status = RunStatus::pending;
  std::string experiment;
  std::string config;
  std::vector<std::string> overrides;
  std::string config_hash;
  std::int64_t seed = 0;
  std::string revision;
  std::string host;
  std::string created_at;
  std::string started_at;
  std::string finished_at;
  std::string error;
  std::string output_dir;
  std::string worker;        // who claimed it: "host:pid" of the worker process
  std::int64_t pid = 0;      // process executing it (0 = none yet)
  int attempt = 0;           // how many times it was claimed
  std::string heartbeat_at;  // last sign of life of its process
};

// What `armor db list --where` and friends select. Every criterion given must hold.
struct RunFilter {
  std::optional<std::int64_t> sweep_id;
  std::vector<RunStatus> statuses;    // any of these; empty = any status
  std::vector<std::int64_t> run_ids;  // any of these; empty = any run
  // A boolean expression over run fields, typed params and final metrics (armor/query/
  // where_expression.h), e.g. "trainer.beta >= 3 and (model.k = 1 or model.k = 2)"; "" = all.
  std::string where;
  std::string order_by;  // a name as in `where` ("" = by id); runs without a value come last
  bool descending = false;
};

// A run with its typed params (in config order) and final metrics.
struct RunSummary {
  RunRecord run;
  std::vector<std::pair<std::string, ParamValue>> params;
  std::map<std::string, double> metrics;
};

struct EpochMetric {
  int epoch = 0;
  std::string key;
  double value = 0;  // NaN when not finite
};

struct ExpertMetric {
  std::string layer;
  int expert = 0;
  std::string key;
  double value = 0;
};

struct ArtifactRecord {
  std::string kind;  // checkpoint, log, config
  std::string path;
  std::string sha256;
  std::string recorded_at;
};

// One test image of a run's evaluation against all its attacks together (image = index in the
// evaluated test split; broken_by = "clean", the first attack that broke it, or "" when robust).
struct ImageResult {
  std::int64_t image = 0;
  bool clean_correct = false;
  bool robust = false;
  std::string broken_by;
};

// A read-only query's result, every cell as text (NULL as "NULL"), with each cell's SQLite type.
enum class CellType { null, integer, real, text, blob };
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<CellType>> types;  // same shape as rows
};

class RunStore {
 public:
  static constexpr int kSchemaVersion = 4;
  // read_write creates and migrates; read_only never writes (and refuses an older schema);
  // query migrates an older armor database if there is one, then reads only; shard opens an
  // existing shard (export_run_shard) read-write, never creates or migrates, and keeps SQLite's
  // rollback journal: WAL's shared memory does not work across the hosts of a network file system.
  enum class Mode { read_write, read_only, query, shard };

  // Opens (and in read_write mode creates and migrates) the database at `path`; ":memory:" works.
  // Refuses a database whose user_version is newer than kSchemaVersion, naming both versions.
  explicit RunStore(const std::string& path, Mode mode = Mode::read_write);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const noexcept { return path_; }

  // A single run outside any sweep, status pending. Returns its id.
  std::int64_t add_run(const NewRun& run);
  // A sweep and all its runs (status pending), in one transaction. Returns the run ids in order.
  std::pair<std::int64_t, std::vector<std::int64_t>> add_sweep(const NewSweep& sweep,
                                                               const std::vector<NewRun>& runs);
  // Marks the sweep done: "finished" when every run finished, otherwise "failed".
  void finish_sweep(std::int64_t sweep_id);

  // Atomically claims the pending run of `sweep_id` with the lowest idx: status running, worker set,
  // attempt + 1, heartbeat now. nullopt when none is pending. Safe with several worker processes.
  std::optional<std::int64_t> claim_run(std::int64_t sweep_id, const std::string& worker,
                                        std::optional<std::int64_t> only_run = std::nullopt);
  // The process executing a claimed run says it started (pid, started_at, heartbeat).
  void start_run(std::int64_t run_id, std::int64_t pid = 0);
  void heartbeat(std::int64_t run_id);
  // Marks `running` runs interrupted when their process is gone: same host and the pid no longer
  // exists, or no heartbeat for `stale_after_seconds`. Runs given to Slurm tasks (worker "slurm:...")
  // are left to `armor sweep collect`, which asks Slurm. Returns their ids.
  std::vector<std::int64_t> reap_dead_runs(std::int64_t sweep_id, const std::string& this_host, double stale_after_seconds);
  // The runs reap_dead_runs would mark (of one sweep, or all), with why, without writing: what a
  // read-only view shows as interrupted instead of running.
  std::vector<std::pair<std::int64_t, std::string>> dead_runs(std::optional<std::int64_t> sweep_id, const std::string& this_host,
                                                              double stale_after_seconds) const;
  // Puts every run of the sweep that is failed, diverged or interrupted back to pending (error
  // cleared, attempt kept). Returns their ids.
  std::vector<std::int64_t> requeue(std::int64_t sweep_id);
  // Puts one failed, diverged or interrupted run back to pending (for retries); false otherwise.
  bool requeue_run(std::int64_t run_id);
  // A finished run (any sweep) with this resolved-config hash, if any.
  std::optional<std::int64_t> finished_run_with_hash(const std::string& config_hash) const;
  void set_output_dir(std::int64_t run_id, const std::string& path);
  // Files a run produced: kind "checkpoint", "log", "config"; sha256 hex of the file.
  void record_artifact(std::int64_t run_id, const std::string& kind, const std::string& path, const std::string& sha256);
  // Provenance of a run: key -> text (revision, dirty, compiler, build_type, torch_version, device,
  // threads, host, plugin:<name>:path, plugin:<name>:sha256, ...).
  void record_provenance(std::int64_t run_id, const std::vector<std::pair<std::string, std::string>>& values);
  void record_epoch_metrics(std::int64_t run_id, int epoch,
                            const std::vector<std::pair<std::string, double>>& values);
  void record_expert_metrics(std::int64_t run_id, const std::string& layer, int expert,
                             const std::vector<std::pair<std::string, double>>& values);
  // Writes the final metrics and marks the run finished, in one transaction.
  void finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics);
  // Adds (or replaces) final metrics of a finished run without changing its status: `armor eval`
  // re-evaluating a run. StoreError when the run does not exist or has not finished.
  void add_metrics(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics);
  // Replaces the per-image results of a run (one transaction).
  void record_image_results(std::int64_t run_id, const std::vector<ImageResult>& images);
  std::vector<ImageResult> image_results(std::int64_t run_id) const;  // by image
  // Marks a pending or running run failed (or diverged / interrupted) with its reason; a finished
  // run is never changed.
  void fail_run(std::int64_t run_id, const std::string& error, RunStatus status = RunStatus::failed);

  // ---- shards: a run executed on another machine (a Slurm task) writes into a database of its own ----
  // Writes a fresh shard database at `shard_path` (replacing any file there) holding the run's sweep
  // and run rows with their ids, its params and its epoch metrics so far. Only the process that
  // owns this database creates shards, so schema changes happen only here.
  void export_run_shard(std::int64_t run_id, const std::string& shard_path);
  // Copies what a shard recorded about `run_id` (metrics, epoch and expert metrics, artifacts,
  // provenance, and when the run ended there its status, times and error) into this database, in
  // one transaction, replacing what it held for that run: merging a shard again changes nothing.
  // Returns the run's status in the shard, or nullopt (nothing merged) when the shard belongs to
  // another attempt of the run.
  std::optional<RunStatus> merge_shard(const std::string& shard_path, std::int64_t run_id);
  // Names the worker of a running run (the Slurm task that executes it); false if it is not running.
  bool assign_worker(std::int64_t run_id, const std::string& worker);

  RunRecord run(std::int64_t run_id) const;  // throws StoreError when there is no such run
  SweepRecord sweep(std::int64_t sweep_id) const;  // throws StoreError when there is no such sweep
  std::vector<RunRecord> runs(std::optional<std::int64_t> sweep_id = std::nullopt,
                              std::optional<RunStatus> status = std::nullopt) const;
  std::map<std::string, double> metrics(std::int64_t run_id) const;
  std::vector<std::pair<std::string, ParamValue>> params(std::int64_t run_id) const;

  // ---- queries for `armor db` ----
  // The runs `filter` selects, with their params and metrics, ordered as it asks. A bad `where`
  // or `order_by` (syntax, unknown name) throws UsageError.
  std::vector<RunSummary> find_runs(const RunFilter& filter) const;
  std::vector<SweepRecord> sweeps() const;
  std::optional<std::int64_t> latest_sweep_id() const;
  std::vector<EpochMetric> epoch_metrics(std::int64_t run_id) const;   // by epoch, then key
  // (run id, value) of `key` at `epoch` for every run of the sweep that recorded it: what early
  // stopping compares a run with.
  std::vector<std::pair<std::int64_t, double>> sweep_epoch_metric(std::int64_t sweep_id, int epoch,
                                                                  const std::string& key) const;
  std::vector<ExpertMetric> expert_metrics(std::int64_t run_id) const;  // by layer, expert, key
  std::vector<ArtifactRecord> artifacts(std::int64_t run_id) const;
  std::vector<std::pair<std::string, std::string>> provenance(std::int64_t run_id) const;  // by key
  // Every name a `where` may use: run fields, param keys, metric keys.
  std::vector<std::string> known_names() const;
  // Delete runs (with everything recorded about them) or a sweep and its runs, in one transaction.
  // Return the output folders of the deleted runs, for the caller to remove.
  std::vector<std::string> remove_runs(const std::vector<std::int64_t>& run_ids);
  std::vector<std::string> remove_sweep(std::int64_t sweep_id);

  // Runs one SQL statement that must not write (checked with sqlite3_stmt_readonly).
  QueryResult query(const std::string& sql) const;

 private:
  void migrate();
  std::vector<SweepRecord> read_sweeps(std::optional<std::int64_t> sweep_id) const;
  std::vector<std::string> distinct_keys(const std::string& table) const;
  // The WHERE ... ORDER BY text of `filter` over `runs r`, with its bound values.
  WhereSql filter_sql(const RunFilter& filter) const;
  std::int64_t insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace armor
