#pragma once
// ResultsReader: every read of the results database, for `armor db` (list, show, compare, pivot,
// best, export, plot, sql), `armor report` and the run executor's checks. It never writes: opened on
// its own it holds a read-only connection (after migrating an older armor's file once, in query
// mode); RunStore::reader() gives one over that store's own connection, for the processes that
// also write (the launcher, the executor, `armor db rm`).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/store/store_records.h"

namespace SQLite {
class Database;
}

namespace armor {

struct WhereSql;  // store/where_sql.h, internal

class ResultsReader {
 public:
  // query migrates an older armor database first (a short write, once), then reads only;
  // read_only never writes and refuses an older schema. Both refuse a missing file and a newer schema.
  enum class Mode { query, read_only };

  explicit ResultsReader(const std::string& path, Mode mode = Mode::query);
  // A reader over a connection that `db`'s owner (RunStore) keeps open longer than this reader.
  ResultsReader(SQLite::Database& db, std::string path);
  ~ResultsReader();
  ResultsReader(const ResultsReader&) = delete;
  ResultsReader& operator=(const ResultsReader&) = delete;

  const std::string& path() const noexcept { return path_; }

  RunRecord run(std::int64_t run_id) const;        // throws StoreError when there is no such run
  SweepRecord sweep(std::int64_t sweep_id) const;  // throws StoreError when there is no such sweep
  std::vector<SweepRecord> sweeps() const;
  std::optional<std::int64_t> latest_sweep_id() const;
  std::vector<RunRecord> runs(std::optional<std::int64_t> sweep_id = std::nullopt,
                              std::optional<RunStatus> status = std::nullopt) const;
  // A finished run (any sweep) that trained under this resolved-config hash, if any. A run that only
  // evaluated other weights under it (kEvaluatedCheckpointArtifact, kModelFileArtifact) does not count:
  // `armor eval 2 --new-run model.alpha=0.5` has the hash of a run trained at alpha 0.5, not its weights.
  std::optional<std::int64_t> finished_trained_run_with_hash(const std::string& config_hash) const;

  std::map<std::string, double> metrics(std::int64_t run_id) const;
  std::vector<std::pair<std::string, ParamValue>> params(std::int64_t run_id) const;  // in config order
  std::vector<EpochMetric> epoch_metrics(std::int64_t run_id) const;                  // by epoch, then key
  // (run id, value) of `key` at `epoch` for every run of the sweep that recorded it: what early
  // stopping compares a run with.
  std::vector<std::pair<std::int64_t, double>> sweep_epoch_metric(std::int64_t sweep_id, int epoch,
                                                                  const std::string& key) const;
  std::vector<ExpertMetric> expert_metrics(std::int64_t run_id) const;  // by layer, expert, key
  std::vector<ArtifactRecord> artifacts(std::int64_t run_id) const;
  std::vector<std::pair<std::string, std::string>> provenance(std::int64_t run_id) const;  // by key
  std::vector<ImageResult> image_results(std::int64_t run_id) const;                       // by image
  // The attack-validity checks of a run's evaluation, by metric ("" first), then check.
  std::vector<EvalCheck> eval_checks(std::int64_t run_id) const;
  // The run's robustness curves, by metric (none when its evaluation laddered no attack).
  std::vector<RobustnessCurve> robustness_curves(std::int64_t run_id) const;
  // (run id, metric) -> the details of the flagged checks concerning it, for the runs given (every
  // run when empty). A model-wide flag (metric "") concerns every metric of the run: it is listed
  // under "" and callers apply it to each robust metric (see flagged_detail()).
  std::map<std::pair<std::int64_t, std::string>, std::string> flagged_metrics(
      const std::vector<std::int64_t>& run_ids = {}) const;

  // The runs `filter` selects, with their params and metrics, ordered as it asks. A bad `where`
  // or `order_by` (syntax, unknown name) throws UsageError.
  std::vector<RunSummary> find_runs(const RunFilter& filter) const;
  // Every name a `where` may use: run fields, param keys, metric keys.
  std::vector<std::string> known_names() const;

  // The runs recorded as running (of one sweep, or all) whose process `liveness` says is gone, with
  // why ("interrupted: ..."), without writing: what a read-only view shows as interrupted, and what
  // RunQueue::reap_dead_runs marks.
  std::vector<std::pair<std::int64_t, std::string>> dead_runs(std::optional<std::int64_t> sweep_id,
                                                              const ProcessLiveness& liveness) const;

  // Runs one SQL statement that must not write (checked with sqlite3_stmt_readonly).
  QueryResult query(const std::string& sql) const;

 private:
  std::vector<SweepRecord> read_sweeps(std::optional<std::int64_t> sweep_id) const;
  std::vector<std::string> distinct_keys(const std::string& table) const;
  // The WHERE ... ORDER BY text of `filter` over `runs r`, with its bound values.
  WhereSql filter_sql(const RunFilter& filter) const;

  std::unique_ptr<SQLite::Database> owned_;  // null when reading over a RunStore's connection
  SQLite::Database* db_;
  std::string path_;
};

}  // namespace armor
