#pragma once
// RunStore: the results database (runs.db). All SQL of armor lives behind this class.
//
// Schema (version kSchemaVersion, kept in PRAGMA user_version; see README "Results database"):
//   sweeps(id, name, experiment, spec, status, created_at, finished_at)
//   runs(id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
//        created_at, started_at, finished_at, error)
//   params(run_id, key, value)                 every resolved config key, dotted, typed
//   metrics(run_id, key, value)                final metrics: clean_acc, <attack>_acc, ...
//   epoch_metrics(run_id, epoch, key, value)   training curves
//   expert_metrics(run_id, layer, expert, key, value)
// Every public write is one transaction: a killed process never leaves half a record.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/config/param_value.h"

namespace SQLite {
class Database;
}

namespace armor {

enum class RunStatus { pending, running, finished, failed };
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
};

struct NewSweep {
  std::string name;
  std::string experiment;
  std::string spec;  // the sweep's override lists, as given on the command line
};

struct RunRecord {
  std::int64_t id = 0;
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
};

// A read-only query's result, every cell as text (NULL as "NULL").
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
};

class RunStore {
 public:
  static constexpr int kSchemaVersion = 1;
  enum class Mode { read_write, read_only };

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

  void start_run(std::int64_t run_id);
  void record_epoch_metrics(std::int64_t run_id, int epoch,
                            const std::vector<std::pair<std::string, double>>& values);
  void record_expert_metrics(std::int64_t run_id, const std::string& layer, int expert,
                             const std::vector<std::pair<std::string, double>>& values);
  // Writes the final metrics and marks the run finished, in one transaction.
  void finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics);
  // Marks a pending or running run failed with its reason.
  void fail_run(std::int64_t run_id, const std::string& error);

  RunRecord run(std::int64_t run_id) const;  // throws StoreError when there is no such run
  std::vector<RunRecord> runs(std::optional<std::int64_t> sweep_id = std::nullopt,
                              std::optional<RunStatus> status = std::nullopt) const;
  std::map<std::string, double> metrics(std::int64_t run_id) const;
  std::vector<std::pair<std::string, ParamValue>> params(std::int64_t run_id) const;

  // Runs one SQL statement that must not write (checked with sqlite3_stmt_readonly).
  QueryResult query(const std::string& sql) const;

 private:
  void migrate();
  std::int64_t insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run);

  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
};

}  // namespace armor
