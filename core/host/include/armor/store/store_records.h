#pragma once
// The values the store takes and returns: what the host knows about a run or sweep before it
// starts (NewRun, NewSweep), the records read back (RunRecord, SweepRecord, metrics, artifacts,
// image results), what `armor db` selects (RunFilter, RunSummary, QueryResult), and what the store
// tells a caller's liveness check about a running run (RunningProcess, ProcessLiveness). Plain
// structs, no SQL: the parts of the store (armor/store/run_store.h) exchange them with callers.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/params/param_value.h"

namespace armor {

// pending: recorded, not started; running: claimed by a worker; finished; failed (threw or crashed);
// diverged (non-finite loss); interrupted (its process vanished: killed, or no heartbeat).
enum class RunStatus { pending, running, finished, failed, diverged, interrupted };
const char* to_string(RunStatus status);
RunStatus run_status_from_string(const std::string& text);  // throws StoreError on an unknown status

// What the host knows about a run before it starts.
struct NewRun {
  int index = 0;                       // position in its sweep (0 for a single run)
  std::string experiment;              // the experiment file as given
  std::string config;                  // the fully resolved config, as TOML text
  std::vector<std::string> overrides;  // the command-line overrides of this run, in order
  std::string config_hash;
  std::int64_t seed = 0;
  std::string revision;  // source revision of the armor build
  std::string host;
  std::vector<std::pair<std::string, ParamValue>> params;  // dotted key -> typed value
  std::string output_dir;                                  // the run's output folder ("" = none yet)
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
  bool outside_sweeps = false;        // only the runs of no sweep (single runs, `armor eval --new-run`'s)
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

// One attack-validity check of an evaluation (table eval_checks): `metric` is the robust metric it
// concerns ("" = model-wide, concerning every robust metric), `value` what it measured, `flagged`
// whether it failed, `detail` why in words.
struct EvalCheck {
  std::string metric;
  std::string check;
  double value = 0.0;
  bool flagged = false;
  std::string detail;
};

// One test image on an attack's eps ladder (table robustness_curves): the smallest eps that broke
// it (0 when misclassified clean), none when it survived every eps up to the ladder's largest.
struct ImageMinEps {
  std::int64_t image = 0;
  std::optional<double> min_eps;
};

// A robustness curve of one run and attack: the ladder's largest eps and every image on it.
struct RobustnessCurve {
  std::string metric;  // the attack (metric <metric>_acc)
  double max_eps = 0.0;
  std::vector<ImageMinEps> images;  // by image
};

// A read-only query's result, every cell as text (NULL as "NULL"), with each cell's SQLite type.
enum class CellType { null, integer, real, text, blob };
struct QueryResult {
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::vector<CellType>> types;  // same shape as rows
};

// What the store knows about the process of a run recorded as running, for a liveness check that
// the caller (the launcher) supplies: the store never asks the operating system itself.
struct RunningProcess {
  std::int64_t run_id = 0;
  std::string worker;          // who claimed it, as claim_run or assign_worker recorded it ("" = nobody)
  std::string host;            // the host that recorded the run
  std::int64_t pid = 0;        // the process start_run recorded (0 = not started yet)
  double silent_seconds = 0;   // since its last heartbeat, else since it started, else since it was recorded
  double running_seconds = 0;  // since it started, else since it was claimed: the process is at least this old
};

// Whether the process of a running run is gone: nullopt while it lives, otherwise why it is taken
// for gone ("its process 42 on node1 is gone"). armor/launch/process_liveness.h has the launcher's.
using ProcessLiveness = std::function<std::optional<std::string>(const RunningProcess&)>;

}  // namespace armor
