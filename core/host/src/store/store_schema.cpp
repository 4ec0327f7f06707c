#include "store_schema.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <array>

#include "armor/store/run_store.h"
#include "sql_helpers.h"
#include "wide_views.h"

namespace armor::store_sql {
namespace {

// Long enough to wait out another armor process committing a run, short enough to report a stuck
// lock instead of hanging forever.
constexpr int kBusyTimeoutMs = 10'000;

// Migration i takes a database from user_version i to i + 1. Only ever append: databases in the
// field have already run the earlier entries.
const std::array<const char*, RunStore::kSchemaVersion> kMigrations = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE sweeps (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  experiment  TEXT NOT NULL,
  spec        TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'running'
              CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  created_at  TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  finished_at TEXT
);

CREATE TABLE runs (
  id          INTEGER PRIMARY KEY,
  sweep_id    INTEGER REFERENCES sweeps(id),
  idx         INTEGER NOT NULL DEFAULT 0,
  status      TEXT NOT NULL DEFAULT 'pending'
              CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  experiment  TEXT NOT NULL,
  config      TEXT NOT NULL,
  overrides   TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  config_hash TEXT NOT NULL,
  seed        INTEGER NOT NULL,
  revision    TEXT NOT NULL,
  host        TEXT NOT NULL,
  created_at  TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  started_at  TEXT,
  finished_at TEXT,
  error       TEXT
);
CREATE INDEX runs_sweep_id ON runs(sweep_id);
CREATE INDEX runs_status ON runs(status);

-- value has no declared type on purpose: without column affinity every value keeps the type it
-- was bound with (INTEGER, REAL or TEXT), so `value > 3` compares numbers as numbers.
-- type keeps what the value was in the config, since booleans are stored as 0/1.
-- A NULL value is a float NaN, which SQLite cannot store.
CREATE TABLE params (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value,
  type   TEXT NOT NULL CHECK (type IN ('boolean', 'integer', 'float', 'string')),
  PRIMARY KEY (run_id, key)
);
CREATE INDEX params_key_value ON params(key, value);

-- In the metric tables too a NULL value is a NaN.
CREATE TABLE metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, key)
);
CREATE INDEX metrics_key ON metrics(key);

CREATE TABLE epoch_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  epoch  INTEGER NOT NULL,
  key    TEXT NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, epoch, key)
);

CREATE TABLE expert_metrics (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  layer  TEXT NOT NULL,
  expert INTEGER NOT NULL,
  key    TEXT NOT NULL,
  value  REAL,
  PRIMARY KEY (run_id, layer, expert, key)
);
)sql",
    // 1 -> 2: runs gain output_dir, worker, pid, attempt, heartbeat_at and the statuses diverged and
    // interrupted. SQLite cannot change a CHECK constraint in place, so runs is rebuilt (migrate()
    // turns foreign keys off meanwhile, so that dropping the old table cascades nowhere).
    // New: artifacts, provenance, view_columns (the columns of the wide views) and indexes.
    R"sql(
CREATE TABLE runs_v2 (
  id           INTEGER PRIMARY KEY,
  sweep_id     INTEGER REFERENCES sweeps(id),
  idx          INTEGER NOT NULL DEFAULT 0,
  status       TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'finished', 'failed', 'diverged', 'interrupted')),
  experiment   TEXT NOT NULL,
  config       TEXT NOT NULL,
  overrides    TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  config_hash  TEXT NOT NULL,
  seed         INTEGER NOT NULL,
  revision     TEXT NOT NULL,
  host         TEXT NOT NULL,
  created_at   TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  started_at   TEXT,
  finished_at  TEXT,
  error        TEXT,
  output_dir   TEXT,
  worker       TEXT,                        -- host:pid of the worker that claimed it
  pid          INTEGER NOT NULL DEFAULT 0,  -- process executing it
  attempt      INTEGER NOT NULL DEFAULT 0,  -- times claimed
  heartbeat_at TEXT
);
INSERT INTO runs_v2 (id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
                     created_at, started_at, finished_at, error)
  SELECT id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
         created_at, started_at, finished_at, error FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v2 RENAME TO runs;
CREATE INDEX runs_sweep_status_idx ON runs(sweep_id, status, idx);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_config_hash ON runs(config_hash, status);

DROP INDEX metrics_key;
CREATE INDEX metrics_key_value ON metrics(key, value);
CREATE INDEX epoch_metrics_key ON epoch_metrics(key, epoch);
CREATE INDEX expert_metrics_key ON expert_metrics(key);

CREATE TABLE artifacts (
  run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  kind        TEXT NOT NULL,  -- checkpoint, log, config
  path        TEXT NOT NULL,
  sha256      TEXT NOT NULL,  -- hex
  recorded_at TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  PRIMARY KEY (run_id, path)
);

CREATE TABLE provenance (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key    TEXT NOT NULL,  -- revision, dirty, compiler, build_type, torch_version, device, threads, host, plugin:<name>:path, ...
  value  TEXT NOT NULL,
  PRIMARY KEY (run_id, key)
);

-- Every key that ever got a column in the wide views (results, curves, experts), by source table.
CREATE TABLE view_columns (
  source TEXT NOT NULL,  -- params, metrics, epoch_metrics, expert_metrics
  key    TEXT NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
INSERT OR IGNORE INTO view_columns SELECT DISTINCT 'params', key FROM params;
INSERT OR IGNORE INTO view_columns SELECT DISTINCT 'metrics', key FROM metrics;
INSERT OR IGNORE INTO view_columns SELECT DISTINCT 'epoch_metrics', key FROM epoch_metrics;
INSERT OR IGNORE INTO view_columns SELECT DISTINCT 'expert_metrics', key FROM expert_metrics;
)sql",
    // 2 -> 3: image_results, per test image of a run, its outcome against all evaluation attacks.
    R"sql(
CREATE TABLE image_results (
  run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  image         INTEGER NOT NULL,  -- index in the evaluated test split
  clean_correct INTEGER NOT NULL,  -- 1 = classified correctly without attack
  robust        INTEGER NOT NULL,  -- 1 = correct clean and under every evaluation attack
  broken_by     TEXT,              -- 'clean' or the first attack that broke it; NULL when robust
  PRIMARY KEY (run_id, image)
) WITHOUT ROWID;
)sql",
    // 3 -> 4: identities. Every sweep and run gets a uid (128 random bits, hex) that no other
    // database shares: it names their output folders and is written into every checkpoint, so a run
    // never takes another's folder or state. Ids become AUTOINCREMENT so that `armor db rm` never
    // frees an id for reuse (a new run must not meet a deleted run's folder or records). Both tables
    // are rebuilt; the wide views that read runs are dropped first and recreated after the step.
    R"sql(
DROP VIEW IF EXISTS results;
DROP VIEW IF EXISTS curves;
DROP VIEW IF EXISTS experts;

CREATE TABLE sweeps_v4 (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  uid         TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
  name        TEXT NOT NULL,
  experiment  TEXT NOT NULL,
  spec        TEXT NOT NULL,
  status      TEXT NOT NULL DEFAULT 'running'
              CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  created_at  TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  finished_at TEXT
);
INSERT INTO sweeps_v4 (id, name, experiment, spec, status, created_at, finished_at)
  SELECT id, name, experiment, spec, status, created_at, finished_at FROM sweeps;
DROP TABLE sweeps;
ALTER TABLE sweeps_v4 RENAME TO sweeps;

CREATE TABLE runs_v4 (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  uid          TEXT NOT NULL UNIQUE DEFAULT (lower(hex(randomblob(16)))),
  sweep_id     INTEGER REFERENCES sweeps(id),
  idx          INTEGER NOT NULL DEFAULT 0,
  status       TEXT NOT NULL DEFAULT 'pending'
               CHECK (status IN ('pending', 'running', 'finished', 'failed', 'diverged', 'interrupted')),
  experiment   TEXT NOT NULL,
  config       TEXT NOT NULL,
  overrides    TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
  config_hash  TEXT NOT NULL,
  seed         INTEGER NOT NULL,
  revision     TEXT NOT NULL,
  host         TEXT NOT NULL,
  created_at   TEXT NOT NULL DEFAULT ()sql" ARMOR_SQL_NOW R"sql(),
  started_at   TEXT,
  finished_at  TEXT,
  error        TEXT,
  output_dir   TEXT,
  worker       TEXT,                        -- host:pid of the worker that claimed it
  pid          INTEGER NOT NULL DEFAULT 0,  -- process executing it
  attempt      INTEGER NOT NULL DEFAULT 0,  -- times claimed
  heartbeat_at TEXT
);
INSERT INTO runs_v4 (id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
                     created_at, started_at, finished_at, error, output_dir, worker, pid, attempt, heartbeat_at)
  SELECT id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host,
         created_at, started_at, finished_at, error, output_dir, worker, pid, attempt, heartbeat_at FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_sweep_status_idx ON runs(sweep_id, status, idx);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_config_hash ON runs(config_hash, status);
)sql",
    // 4 -> 5: eval_checks, the attack-validity checks of a run's evaluation (README, "Attack-validity
    // checks"): per robust metric, or model-wide with metric ''.
    R"sql(
CREATE TABLE eval_checks (
  run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  metric  TEXT NOT NULL,              -- the robust metric it concerns; '' = model-wide (every robust metric)
  "check" TEXT NOT NULL,              -- randomness, probabilities, zero_gradients, batch_dependence, ...
  value   REAL,                       -- what it measured
  flagged INTEGER NOT NULL DEFAULT 0, -- 1 = the check failed: the metric is suspect
  detail  TEXT NOT NULL DEFAULT '',   -- why, in words
  PRIMARY KEY (run_id, metric, "check")
) WITHOUT ROWID;
)sql",
    // 5 -> 6: robustness_curves, per test image the smallest eps of an attack's eps ladder that broke
    // it (README, "Robustness curves"): accuracy against eps is one query.
    R"sql(
CREATE TABLE robustness_curves (
  run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  metric  TEXT NOT NULL,     -- the evaluation attack whose eps was laddered (its metric is <metric>_acc)
  image   INTEGER NOT NULL,  -- index in the evaluated test split
  min_eps REAL,              -- smallest eps of the ladder that broke it; 0 = misclassified clean; NULL = never broken
  max_eps REAL NOT NULL,     -- the ladder's largest eps: NULL min_eps means robust up to it
  PRIMARY KEY (run_id, metric, image)
) WITHOUT ROWID;
)sql",
};

std::string version_refusal(const std::string& path, int version) {
  return path + " has schema version " + std::to_string(version) + ", this armor supports up to " +
         std::to_string(RunStore::kSchemaVersion) + ": upgrade armor";
}

int read_version(const SQLite::Database& db, const std::string& path) {
  return guarded("read schema version of " + path, [&] { return user_version(db); });
}

}  // namespace

std::unique_ptr<SQLite::Database> StoreSchema::open(const std::string& path, Mode mode) {
  constexpr int kSchemaVersion = RunStore::kSchemaVersion;
  const bool writable = mode == Mode::read_write || mode == Mode::shard;
  const int flags = mode == Mode::read_write ? (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)
                    : mode == Mode::shard    ? SQLite::OPEN_READWRITE
                                             : SQLite::OPEN_READONLY;
  const auto connect = [&] {
    try {
      return std::make_unique<SQLite::Database>(path, flags, kBusyTimeoutMs);
    } catch (const SQLite::Exception& error) {
      throw StoreError("cannot open results database " + path + (writable ? "" : " read-only") + ": " + error.what(),
                       sqlite_code(error));
    }
  };
  std::unique_ptr<SQLite::Database> db = connect();
  // Checked before anything else touches the file: a newer armor's database is left as it is.
  int version = read_version(*db, path);
  if (version > kSchemaVersion) throw StoreError(version_refusal(path, version));
  if (mode == Mode::query && version > 0 && version < kSchemaVersion) {
    // An older armor's database: migrate it once (a short write), then read only.
    db.reset();
    open(path, Mode::read_write);
    db = connect();
    version = read_version(*db, path);
  }

  // foreign_keys is per connection and off by default; it is a no-op inside a transaction.
  exec_script(*db, "PRAGMA foreign_keys = ON");
  if (!writable) {
    if (version < kSchemaVersion) {
      throw StoreError(
          path + " has schema version " + std::to_string(version) + ", this armor reads version " +
          std::to_string(kSchemaVersion) +
          (version == 0 ? ": it is not an armor results database" : ": open it once read-write to migrate it"));
    }
    return db;
  }
  if (mode == Mode::shard) {
    // A shard comes from ShardExchange::export_run_shard with the current schema; only that process migrates.
    if (version != kSchemaVersion) {
      throw StoreError(path + " has schema version " + std::to_string(version) +
                       ", this armor writes shards of version " + std::to_string(kSchemaVersion) +
                       ": the armor that submitted the run and the one executing it differ");
    }
    return db;
  }
  // WAL lets `armor db` read while a sweep writes. An in-memory database has no journal file.
  if (path != ":memory:" && !path.empty()) exec_script(*db, "PRAGMA journal_mode = WAL");
  migrate(*db, path);
  return db;
}

void StoreSchema::migrate(SQLite::Database& db, const std::string& path) {
  // Most opens find the schema current: no need to take the write lock.
  if (read_version(db, path) == RunStore::kSchemaVersion) return;
  // Rebuilding a table (1 -> 2) must not cascade deletes: foreign keys stay off until the end. The
  // pragma cannot change inside a transaction, so it is set around the loop.
  exec_script(db, "PRAGMA foreign_keys = OFF");
  struct ForeignKeysBackOn {
    SQLite::Database& db;
    ~ForeignKeysBackOn() {
      try {
        db.exec("PRAGMA foreign_keys = ON");
      } catch (...) {  // a destructor never throws; the next statement reports a broken connection
      }
    }
  } back_on{db};
  // One transaction per step, re-reading the version under the write lock so that two processes
  // opening a fresh database at once do not both run the same migration.
  while (true) {
    auto transaction = guarded("begin migration of " + path, [&] { return write_transaction(db); });
    const int version = user_version(db);
    if (version > RunStore::kSchemaVersion) throw StoreError(version_refusal(path, version));
    if (version == RunStore::kSchemaVersion) return;  // the transaction rolls back: it wrote nothing
    exec_script(db, kMigrations[static_cast<std::size_t>(version)]);
    exec_script(db, "PRAGMA user_version = " + std::to_string(version + 1));
    if (version + 1 == RunStore::kSchemaVersion) recreate_views(db);
    Sql check(db, "PRAGMA foreign_key_check");
    if (check.step()) {
      throw StoreError("migration of " + path + " to version " + std::to_string(version + 1) +
                       " broke a foreign key in table " + check.stmt.getColumn(0).getString());
    }
    guarded("commit migration of " + path, [&] { transaction.commit(); });
  }
}

}  // namespace armor::store_sql
