#include "armor/store/run_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <signal.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <type_traits>

#include "armor/error.h"
#include "armor/query/where_expression.h"
#include "armor/util/json_text.h"
#include "where_sql.h"

// The current time as ISO-8601 UTC text with milliseconds, computed by SQLite inside the statement.
#define ARMOR_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

namespace armor {
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
};

// ---- the wide views ------------------------------------------------------------------------------

// A view with one column per key of its sources. A view definition cannot take bound parameters,
// so its columns are written by SQLite itself: printf's %Q quotes a key as a literal and %w as an
// identifier, from keys read out of view_columns. No text from a command line ever goes in.
struct ViewSpec {
  const char* name;
  const char* head;  // up to the first key column
  std::vector<std::pair<const char*, const char*>> sources;  // source table, printf template of one column
  const char* tail;
};

const std::vector<ViewSpec>& wide_views() {
  static const std::vector<ViewSpec> views{
      {"results",
       "SELECT r.id AS run_id, r.sweep_id, r.idx, r.status, r.experiment, r.overrides, r.config_hash, r.seed, "
       "r.revision, r.host, r.created_at, r.started_at, r.finished_at, r.error, r.output_dir, r.uid AS run_uid",
       {{"params", ", (SELECT value FROM params WHERE run_id = r.id AND key = %Q) AS \"%w\""},
        {"metrics", ", (SELECT value FROM metrics WHERE run_id = r.id AND key = %Q) AS \"%w\""}},
       " FROM runs r"},
      {"curves", "SELECT e.run_id, r.sweep_id, e.epoch",
       {{"epoch_metrics", ", max(CASE WHEN e.key = %Q THEN e.value END) AS \"%w\""}},
       " FROM epoch_metrics e JOIN runs r ON r.id = e.run_id GROUP BY e.run_id, e.epoch"},
      {"experts", "SELECT x.run_id, r.sweep_id, x.layer, x.expert",
       {{"expert_metrics", ", max(CASE WHEN x.key = %Q THEN x.value END) AS \"%w\""}},
       " FROM expert_metrics x JOIN runs r ON r.id = x.run_id GROUP BY x.run_id, x.layer, x.expert"},
  };
  return views;
}

// ---- errors ----------------------------------------------------------------------------------

// SQLiteCpp uses -1 for failures of its own (no SQLite code); StoreError shows only codes != 0.
int sqlite_code(const SQLite::Exception& error) {
  return error.getErrorCode() > 0 ? error.getErrorCode() : 0;
}

// What the user can do about a failure, by SQLite's primary result code ("" when nothing helps).
std::string remedy(int code) {
  switch (code & 0xff) {
    case SQLITE_READONLY: return "; the database file or its folder is not writable by this user";
    case SQLITE_FULL: return "; the disk (or the database's size limit) is full";
    case SQLITE_IOERR: return "; a read or write failed: is the disk full, or the file size limited (ulimit -f)?";
    case SQLITE_CANTOPEN: return "; check that the path and its folder exist and are writable";
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return "; the file is damaged or not an SQLite database";
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return "; another process held the database longer than the busy timeout";
    default: return "";
  }
}

// Runs `body`, turning SQLite's exceptions into a StoreError naming `what` (the SQL or operation).
// StoreErrors thrown inside pass through unchanged, with the more precise SQL they already name.
template <typename Body>
auto guarded(const std::string& what, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& error) {
    throw StoreError(what + ": " + error.what() + remedy(sqlite_code(error)), sqlite_code(error));
  }
}

// "<database file>: <sql>", for errors of statements that do not otherwise name the database.
std::string in_database(const SQLite::Database& db, const std::string& sql) { return db.getFilename() + ": " + sql; }

// Whether process `pid` of this host still runs. A zombie has ended: its parent died too (a killed
// sweep) and it waits for an init that may never reap it, so signalling it would still succeed.
bool process_running(std::int64_t pid) {
  if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const std::size_t name_end = line.rfind(')');  // "pid (name) state ..."; the name may hold spaces
  if (name_end == std::string::npos || name_end + 2 >= line.size()) return true;
  const char state = line[name_end + 2];
  return state != 'Z' && state != 'X';
}

StoreError no_such_run(const std::string& path, std::int64_t run_id) {
  return StoreError(path + " has no run " + std::to_string(run_id));
}

// ---- statements ------------------------------------------------------------------------------

// A prepared statement whose failures name its SQL. Binding stays on `stmt`: a bad bind is a bug
// here, and the public method's guard names the operation.
struct Sql {
  Sql(const SQLite::Database& db, const std::string& text)
      : sql(in_database(db, text)), stmt(guarded(sql, [&] { return SQLite::Statement(db, text); })) {}

  // Runs a statement that returns no rows; returns the number of rows it changed.
  int exec() {
    return guarded(sql, [&] { return stmt.exec(); });
  }
  // Fetches the next row; false when there is none.
  bool step() {
    return guarded(sql, [&] { return stmt.executeStep(); });
  }

  std::string sql;
  SQLite::Statement stmt;
};

void exec_script(SQLite::Database& db, const std::string& sql) {
  guarded(in_database(db, sql), [&] { db.exec(sql); });
}

int user_version(const SQLite::Database& db) {
  Sql pragma(db, "PRAGMA user_version");
  pragma.step();
  return pragma.stmt.getColumn(0).getInt();
}

// Writes take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that reads first
// and then writes can fail at once with SQLITE_BUSY when another process wrote in between,
// without waiting out the busy timeout.
SQLite::Transaction write_transaction(SQLite::Database& db) {
  return SQLite::Transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
}

void bind_optional(SQLite::Statement& stmt, int index, const std::optional<std::int64_t>& value) {
  if (value) {
    stmt.bind(index, *value);
  } else {
    stmt.bind(index);  // NULL
  }
}

// Binds a config value with its own SQLite type; booleans become the integers 0 and 1.
void bind_param(SQLite::Statement& stmt, int index, const ParamValue& value) {
  std::visit(
      [&](const auto& held) {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, bool>) {
          stmt.bind(index, static_cast<std::int64_t>(held ? 1 : 0));
        } else {
          stmt.bind(index, held);
        }
      },
      value);
}

void bind_all(SQLite::Statement& stmt, const std::vector<std::optional<ParamValue>>& values) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    if (values[i]) {
      bind_param(stmt, index, *values[i]);
    } else {
      stmt.bind(index);
    }
  }
}

ParamValue read_param(const SQLite::Column& value, const std::string& type) {
  if (type == "boolean") return value.getInt64() != 0;
  if (type == "integer") return static_cast<std::int64_t>(value.getInt64());
  if (type == "float") return value.isNull() ? std::numeric_limits<double>::quiet_NaN() : value.getDouble();
  return value.getString();
}

double read_metric(const SQLite::Column& value) {
  return value.isNull() ? std::numeric_limits<double>::quiet_NaN() : value.getDouble();
}

std::string text_or_empty(const SQLite::Column& column) {
  return column.isNull() ? std::string() : column.getString();
}

// Fails with the run's id when the run does not exist, so that a write to a missing run reads
// "no run 7" rather than "FOREIGN KEY constraint failed".
void require_run(const SQLite::Database& db, const std::string& path, std::int64_t run_id) {
  Sql select(db, "SELECT 1 FROM runs WHERE id = ?");
  select.stmt.bind(1, run_id);
  if (!select.step()) throw no_such_run(path, run_id);
}

void recreate_view(SQLite::Database& db, const ViewSpec& view);

// Gives every new key of `source` a column in the views that show it; inside the caller's
// transaction. Views are rebuilt only when a key is new, which is rare after a sweep's first run.
void add_view_columns(SQLite::Database& db, const char* source, const std::vector<std::string>& keys) {
  Sql insert(db, "INSERT OR IGNORE INTO view_columns (source, key) VALUES (?, ?)");
  int added = 0;
  for (const std::string& key : keys) {
    insert.stmt.reset();
    insert.stmt.bind(1, source);
    insert.stmt.bind(2, key);
    added += insert.exec();
  }
  if (added == 0) return;
  for (const ViewSpec& view : wide_views()) {
    for (const auto& entry : view.sources) {
      if (std::string(entry.first) == source) recreate_view(db, view);
    }
  }
}

template <typename Value>
std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Value>>& values) {
  std::vector<std::string> keys;
  keys.reserve(values.size());
  for (const auto& entry : values) keys.push_back(entry.first);
  return keys;
}

void recreate_view(SQLite::Database& db, const ViewSpec& view) {
  std::string sql = std::string("CREATE VIEW ") + view.name + " AS " + view.head;
  for (const auto& [source, column] : view.sources) {
    Sql columns(db,
                "SELECT coalesce(group_concat(printf(?, key, key), ''), '') "
                "FROM (SELECT key FROM view_columns WHERE source = ? ORDER BY key)");
    columns.stmt.bind(1, column);
    columns.stmt.bind(2, source);
    columns.step();
    sql += columns.stmt.getColumn(0).getString();
  }
  sql += view.tail;
  exec_script(db, std::string("DROP VIEW IF EXISTS ") + view.name);
  exec_script(db, sql);
}

// Puts runs back to pending for a new attempt (attempt kept), inside the caller's transaction. The
// results of the failed attempt go; its per-epoch curves stay, because the new attempt continues
// from the run's last checkpoint and rewrites every epoch it trains again.
void back_to_pending(SQLite::Database& db, const std::vector<std::int64_t>& run_ids) {
  const char* const kStatements[] = {
      ("UPDATE runs SET status = 'pending', error = NULL, started_at = NULL, finished_at = NULL, pid = 0, "
       "worker = NULL, heartbeat_at = NULL WHERE id = ?"),
      "DELETE FROM metrics WHERE run_id = ?", "DELETE FROM expert_metrics WHERE run_id = ?",
      "DELETE FROM image_results WHERE run_id = ?"};
  for (const char* sql : kStatements) {
    Sql statement(db, sql);
    for (const std::int64_t run_id : run_ids) {
      statement.stmt.reset();
      statement.stmt.bind(1, run_id);
      statement.exec();
    }
  }
}

// ---- overrides as a JSON array of strings -------------------------------------------------------

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ",";
    out += json_quoted(items[i]);
  }
  return out + "]";
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Reads the JSON array of strings that json_array writes (any valid JSON of that shape, in fact).
class JsonArrayReader {
 public:
  explicit JsonArrayReader(const std::string& text) : text_(text) {}

  std::vector<std::string> read() {
    std::vector<std::string> items;
    expect('[');
    skip_space();
    if (peek() == ']') {
      ++pos_;
    } else {
      while (true) {
        items.push_back(read_string());
        skip_space();
        const char next = take();
        if (next == ']') break;
        if (next != ',') fail("expected ',' or ']'");
      }
    }
    skip_space();
    if (pos_ != text_.size()) fail("text after the array");
    return items;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw StoreError("malformed overrides " + text_ + ": " + why + " at offset " + std::to_string(pos_));
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  char take() {
    if (pos_ >= text_.size()) fail("unexpected end");
    return text_[pos_++];
  }
  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  void expect(char wanted) {
    skip_space();
    if (take() != wanted) fail(std::string("expected '") + wanted + "'");
  }

  std::uint32_t read_hex4() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = take();
      value <<= 4;
      if (c >= '0' && c <= '9') value |= static_cast<std::uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f') value |= static_cast<std::uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') value |= static_cast<std::uint32_t>(c - 'A' + 10);
      else fail("bad \\u escape");
    }
    return value;
  }

  // \uXXXX, joining a UTF-16 surrogate pair into one code point.
  std::uint32_t read_unicode_escape() {
    const std::uint32_t first = read_hex4();
    if (first < 0xD800 || first > 0xDBFF) return first;
    if (take() != '\\' || take() != 'u') fail("unpaired surrogate");
    const std::uint32_t second = read_hex4();
    if (second < 0xDC00 || second > 0xDFFF) fail("unpaired surrogate");
    return 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
  }

  std::string read_string() {
    expect('"');
    std::string out;
    while (true) {
      const char c = take();
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      switch (const char escaped = take()) {
        case '"': case '\\': case '/': out += escaped; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': append_utf8(out, read_unicode_escape()); break;
        default: fail(std::string("unknown escape \\") + escaped);
      }
    }
  }

  const std::string& text_;
  std::size_t pos_ = 0;
};

// ---- reading records ---------------------------------------------------------------------------

constexpr const char* kRunColumns =
    "id, uid, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host, "
    "created_at, started_at, finished_at, error, output_dir, worker, pid, attempt, heartbeat_at";

// One row selected with kRunColumns, in that order.
RunRecord read_run(const SQLite::Statement& row) {
  RunRecord run;
  run.id = row.getColumn(0).getInt64();
  run.uid = row.getColumn(1).getString();
  if (!row.getColumn(2).isNull()) run.sweep_id = row.getColumn(2).getInt64();
  run.index = row.getColumn(3).getInt();
  run.status = run_status_from_string(row.getColumn(4).getString());
  run.experiment = row.getColumn(5).getString();
  run.config = row.getColumn(6).getString();
  run.overrides = JsonArrayReader(row.getColumn(7).getString()).read();
  run.config_hash = row.getColumn(8).getString();
  run.seed = row.getColumn(9).getInt64();
  run.revision = row.getColumn(10).getString();
  run.host = row.getColumn(11).getString();
  run.created_at = text_or_empty(row.getColumn(12));
  run.started_at = text_or_empty(row.getColumn(13));
  run.finished_at = text_or_empty(row.getColumn(14));
  run.error = text_or_empty(row.getColumn(15));
  run.output_dir = text_or_empty(row.getColumn(16));
  run.worker = text_or_empty(row.getColumn(17));
  run.pid = row.getColumn(18).getInt64();
  run.attempt = row.getColumn(19).getInt();
  run.heartbeat_at = text_or_empty(row.getColumn(20));
  return run;
}

// A result cell as text: integers in decimal, floats in their shortest round-trip form, NULL as
// "NULL", blobs as an SQL blob literal.
std::string cell_text(const SQLite::Column& cell) {
  switch (cell.getType()) {
    case SQLITE_INTEGER: return std::to_string(cell.getInt64());
    case SQLITE_FLOAT: return fmt::format("{}", cell.getDouble());
    case SQLITE_NULL: return "NULL";
    case SQLITE_BLOB: {
      const auto* bytes = static_cast<const unsigned char*>(cell.getBlob());
      std::string out = "X'";
      for (int i = 0; i < cell.getBytes(); ++i) out += fmt::format("{:02X}", bytes[i]);
      return out + "'";
    }
    default: return cell.getString();
  }
}

CellType cell_type(const SQLite::Column& cell) {
  switch (cell.getType()) {
    case SQLITE_INTEGER: return CellType::integer;
    case SQLITE_FLOAT: return CellType::real;
    case SQLITE_NULL: return CellType::null;
    case SQLITE_BLOB: return CellType::blob;
    default: return CellType::text;
  }
}

// What query() needs to know about a statement before running it. SQLiteCpp 3.2 keeps its
// sqlite3_stmt private, so this prepares the text once more with the C API.
struct StatementShape {
  bool empty = true;         // only blanks and comments
  bool read_only = false;    // sqlite3_stmt_readonly
  int columns = 0;           // size of the result set
  bool more_statements = false;  // text after the first statement that SQLite::Statement would ignore
};

StatementShape inspect(sqlite3* db, const std::string& sql) {
  StatementShape shape;
  sqlite3_stmt* first = nullptr;
  const char* tail = nullptr;
  const int code = sqlite3_prepare_v2(db, sql.c_str(), -1, &first, &tail);
  if (code != SQLITE_OK) throw StoreError(sql + ": " + sqlite3_errmsg(db), code);
  if (first != nullptr) {
    shape.empty = false;
    shape.read_only = sqlite3_stmt_readonly(first) != 0;
    shape.columns = sqlite3_column_count(first);
    sqlite3_finalize(first);
  }
  if (tail != nullptr && *tail != '\0') {
    // A tail of blanks and comments prepares to no statement; anything else, even garbage, counts.
    sqlite3_stmt* second = nullptr;
    const int tail_code = sqlite3_prepare_v2(db, tail, -1, &second, nullptr);
    shape.more_statements = tail_code != SQLITE_OK || second != nullptr;
    sqlite3_finalize(second);
  }
  return shape;
}

std::string version_refusal(const std::string& path, int version) {
  return path + " has schema version " + std::to_string(version) + ", this armor supports up to " +
         std::to_string(RunStore::kSchemaVersion) + ": upgrade armor";
}

}  // namespace

// ---- RunStatus ---------------------------------------------------------------------------------

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::pending: return "pending";
    case RunStatus::running: return "running";
    case RunStatus::finished: return "finished";
    case RunStatus::failed: return "failed";
    case RunStatus::diverged: return "diverged";
    case RunStatus::interrupted: return "interrupted";
  }
  return "invalid";  // only reachable through a cast of an out-of-range integer
}

RunStatus run_status_from_string(const std::string& text) {
  for (const RunStatus status : {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed,
                                 RunStatus::diverged, RunStatus::interrupted}) {
    if (text == to_string(status)) return status;
  }
  throw StoreError("unknown run status '" + text +
                   "' (expected pending, running, finished, failed, diverged or interrupted)");
}

// ---- RunStore ----------------------------------------------------------------------------------

RunStore::RunStore(const std::string& path, Mode mode) : path_(path) {
  const bool writable = mode == Mode::read_write || mode == Mode::shard;
  const int flags = mode == Mode::read_write ? (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)
                    : mode == Mode::shard    ? SQLite::OPEN_READWRITE
                                             : SQLite::OPEN_READONLY;
  const auto open = [&] {
    try {
      db_ = std::make_unique<SQLite::Database>(path, flags, kBusyTimeoutMs);
    } catch (const SQLite::Exception& error) {
      throw StoreError("cannot open results database " + path + (writable ? "" : " read-only") + ": " +
                           error.what(),
                       sqlite_code(error));
    }
  };
  open();
  // Checked before anything else touches the file: a newer armor's database is left as it is.
  int version = guarded("read schema version of " + path, [&] { return user_version(*db_); });
  if (version > kSchemaVersion) throw StoreError(version_refusal(path, version));
  if (mode == Mode::query && version > 0 && version < kSchemaVersion) {
    // An older armor's database: migrate it once (a short write), then read only.
    db_.reset();
    { RunStore migrated(path, Mode::read_write); }
    open();
    version = guarded("read schema version of " + path, [&] { return user_version(*db_); });
  }

  // foreign_keys is per connection and off by default; it is a no-op inside a transaction.
  exec_script(*db_, "PRAGMA foreign_keys = ON");
  if (!writable) {
    if (version < kSchemaVersion) {
      throw StoreError(path + " has schema version " + std::to_string(version) + ", this armor reads version " +
                       std::to_string(kSchemaVersion) +
                       (version == 0 ? ": it is not an armor results database"
                                     : ": open it once read-write to migrate it"));
    }
    return;
  }
  if (mode == Mode::shard) {
    // A shard comes from export_run_shard with the current schema; only that process migrates.
    if (version != kSchemaVersion) {
      throw StoreError(path + " has schema version " + std::to_string(version) + ", this armor writes shards of version " +
                       std::to_string(kSchemaVersion) + ": the armor that submitted the run and the one executing it differ");
    }
    return;
  }
  // WAL lets `armor db` read while a sweep writes. An in-memory database has no journal file.
  if (path != ":memory:" && !path.empty()) exec_script(*db_, "PRAGMA journal_mode = WAL");
  migrate();
}

RunStore::~RunStore() = default;

void RunStore::migrate() {
  // Most opens find the schema current: no need to take the write lock.
  if (guarded("read schema version of " + path_, [&] { return user_version(*db_); }) == kSchemaVersion) return;
  // Rebuilding a table (1 -> 2) must not cascade deletes: foreign keys stay off until the end. The
  // pragma cannot change inside a transaction, so it is set around the loop.
  exec_script(*db_, "PRAGMA foreign_keys = OFF");
  struct ForeignKeysBackOn {
    SQLite::Database& db;
    ~ForeignKeysBackOn() {
      try {
        db.exec("PRAGMA foreign_keys = ON");
      } catch (...) {  // a destructor never throws; the next statement reports a broken connection
      }
    }
  } back_on{*db_};
  // One transaction per step, re-reading the version under the write lock so that two processes
  // opening a fresh database at once do not both run the same migration.
  while (true) {
    auto transaction = guarded("begin migration of " + path_, [&] { return write_transaction(*db_); });
    const int version = user_version(*db_);
    if (version > kSchemaVersion) throw StoreError(version_refusal(path_, version));
    if (version == kSchemaVersion) return;  // the transaction rolls back: it wrote nothing
    exec_script(*db_, kMigrations[static_cast<std::size_t>(version)]);
    exec_script(*db_, "PRAGMA user_version = " + std::to_string(version + 1));
    if (version + 1 == kSchemaVersion) {
      for (const ViewSpec& view : wide_views()) recreate_view(*db_, view);
    }
    Sql check(*db_, "PRAGMA foreign_key_check");
    if (check.step()) {
      throw StoreError("migration of " + path_ + " to version " + std::to_string(version + 1) +
                       " broke a foreign key in table " + check.stmt.getColumn(0).getString());
    }
    guarded("commit migration of " + path_, [&] { transaction.commit(); });
  }
}

std::int64_t RunStore::insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run) {
  Sql insert(*db_,
             "INSERT INTO runs (sweep_id, idx, experiment, config, overrides, config_hash, seed, revision, host, "
             "output_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  bind_optional(insert.stmt, 1, sweep_id);
  insert.stmt.bind(2, run.index);
  insert.stmt.bind(3, run.experiment);
  insert.stmt.bind(4, run.config);
  insert.stmt.bind(5, json_array(run.overrides));
  insert.stmt.bind(6, run.config_hash);
  insert.stmt.bind(7, run.seed);
  insert.stmt.bind(8, run.revision);
  insert.stmt.bind(9, run.host);
  if (run.output_dir.empty()) {
    insert.stmt.bind(10);
  } else {
    insert.stmt.bind(10, run.output_dir);
  }
  insert.exec();
  const std::int64_t run_id = db_->getLastInsertRowid();

  Sql param(*db_, "INSERT INTO params (run_id, key, value, type) VALUES (?, ?, ?, ?)");
  for (const auto& [key, value] : run.params) {
    param.stmt.reset();
    param.stmt.bind(1, run_id);
    param.stmt.bind(2, key);
    bind_param(param.stmt, 3, value);
    param.stmt.bind(4, type_name(value));
    param.exec();
  }
  add_view_columns(*db_, "params", keys_of(run.params));
  return run_id;
}

std::int64_t RunStore::add_run(const NewRun& run) {
  return guarded("add run to " + path_, [&] {
    auto transaction = write_transaction(*db_);
    const std::int64_t run_id = insert_run(std::nullopt, run);
    transaction.commit();
    return run_id;
  });
}

std::pair<std::int64_t, std::vector<std::int64_t>> RunStore::add_sweep(const NewSweep& sweep,
                                                                       const std::vector<NewRun>& runs) {
  return guarded("add sweep '" + sweep.name + "' to " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql insert(*db_, "INSERT INTO sweeps (name, experiment, spec) VALUES (?, ?, ?)");
    insert.stmt.bind(1, sweep.name);
    insert.stmt.bind(2, sweep.experiment);
    insert.stmt.bind(3, sweep.spec);
    insert.exec();
    const std::int64_t sweep_id = db_->getLastInsertRowid();
    std::vector<std::int64_t> run_ids;
    run_ids.reserve(runs.size());
    for (const NewRun& run : runs) run_ids.push_back(insert_run(sweep_id, run));
    transaction.commit();
    return std::make_pair(sweep_id, std::move(run_ids));
  });
}

void RunStore::finish_sweep(std::int64_t sweep_id) {
  guarded("finish sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_,
               "UPDATE sweeps SET finished_at = " ARMOR_SQL_NOW ", status = CASE WHEN EXISTS "
               "(SELECT 1 FROM runs WHERE sweep_id = sweeps.id AND status != 'finished') "
               "THEN 'failed' ELSE 'finished' END WHERE id = ?");
    update.stmt.bind(1, sweep_id);
    if (update.exec() == 0) throw StoreError(path_ + " has no sweep " + std::to_string(sweep_id));
    transaction.commit();
  });
}

std::optional<std::int64_t> RunStore::claim_run(std::int64_t sweep_id, const std::string& worker,
                                                std::optional<std::int64_t> only_run) {
  return guarded("claim a run of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    // BEGIN IMMEDIATE holds the write lock from the SELECT to the UPDATE: two workers never claim
    // the same run.
    auto transaction = write_transaction(*db_);
    Sql select(*db_, "SELECT id FROM runs WHERE sweep_id = ? AND status = 'pending' AND (? IS NULL OR id = ?) "
                     "ORDER BY idx, id LIMIT 1");
    select.stmt.bind(1, sweep_id);
    if (only_run) {
      select.stmt.bind(2, *only_run);
      select.stmt.bind(3, *only_run);
    }
    if (!select.step()) return std::optional<std::int64_t>();
    const std::int64_t run_id = select.stmt.getColumn(0).getInt64();
    Sql update(*db_,
               "UPDATE runs SET status = 'running', worker = ?, attempt = attempt + 1, pid = 0, heartbeat_at = " ARMOR_SQL_NOW
               ", started_at = NULL, finished_at = NULL, error = NULL WHERE id = ?");
    update.stmt.bind(1, worker);
    update.stmt.bind(2, run_id);
    update.exec();
    transaction.commit();
    return std::optional<std::int64_t>(run_id);
  });
}

void RunStore::start_run(std::int64_t run_id, std::int64_t pid) {
  guarded("start run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    // A restarted run forgets the end and the error of its previous attempt.
    Sql update(*db_,
               "UPDATE runs SET status = 'running', pid = ?, started_at = " ARMOR_SQL_NOW
               ", heartbeat_at = " ARMOR_SQL_NOW ", finished_at = NULL, error = NULL WHERE id = ?");
    update.stmt.bind(1, pid);
    update.stmt.bind(2, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

void RunStore::heartbeat(std::int64_t run_id) {
  guarded("heartbeat of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_, "UPDATE runs SET heartbeat_at = " ARMOR_SQL_NOW " WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

std::vector<std::pair<std::int64_t, std::string>> RunStore::dead_runs(std::optional<std::int64_t> sweep_id,
                                                                      const std::string& this_host,
                                                                      double stale_after_seconds) const {
  return guarded("find dead runs in " + path_, [&] {
    // The process to look for: the run's own once it started, else the worker that claimed it.
    // Its host: the worker's ("host:pid"), else the host that recorded the run.
    Sql select(*db_,
               "SELECT id, coalesce(worker, ''), host, pid, "
               "(julianday('now') - julianday(coalesce(heartbeat_at, started_at, created_at))) * 86400.0 "
               "FROM runs WHERE (?1 IS NULL OR sweep_id = ?1) AND status = 'running' "
               "AND coalesce(worker, '') NOT LIKE 'slurm:%' ORDER BY id");
    bind_optional(select.stmt, 1, sweep_id);
    std::vector<std::pair<std::int64_t, std::string>> dead;  // id, why
    while (select.step()) {
      const std::string worker = select.stmt.getColumn(1).getString();
      const std::size_t colon = worker.rfind(':');
      const std::string host = colon == std::string::npos ? select.stmt.getColumn(2).getString() : worker.substr(0, colon);
      std::int64_t pid = select.stmt.getColumn(3).getInt64();
      if (pid <= 0 && colon != std::string::npos) pid = std::strtoll(worker.c_str() + colon + 1, nullptr, 10);
      const double silent_for = select.stmt.getColumn(4).getDouble();
      // On this host the process table decides: a live process (even a stopped one, Ctrl-Z) that
      // missed heartbeats is not dead, and re-running its run would execute it twice.
      if (host == this_host && pid > 0) {
        if (!process_running(pid)) {
          dead.emplace_back(select.stmt.getColumn(0).getInt64(),
                            fmt::format("interrupted: its process {} on {} is gone", pid, host));
        }
      } else if (silent_for > stale_after_seconds) {
        dead.emplace_back(select.stmt.getColumn(0).getInt64(),
                          fmt::format("interrupted: no heartbeat for {:.0f} s (limit {} s)", silent_for, stale_after_seconds));
      }
    }
    return dead;
  });
}

std::vector<std::int64_t> RunStore::reap_dead_runs(std::int64_t sweep_id, const std::string& this_host,
                                                   double stale_after_seconds) {
  return guarded("reap dead runs of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    const auto dead = dead_runs(sweep_id, this_host, stale_after_seconds);
    Sql update(*db_,
               "UPDATE runs SET status = 'interrupted', finished_at = " ARMOR_SQL_NOW
               ", error = ? WHERE id = ? AND status = 'running'");
    std::vector<std::int64_t> reaped;
    for (const auto& [run_id, why] : dead) {
      update.stmt.reset();
      update.stmt.bind(1, why);
      update.stmt.bind(2, run_id);
      update.exec();
      reaped.push_back(run_id);
    }
    transaction.commit();
    return reaped;
  });
}

std::vector<std::int64_t> RunStore::requeue(std::int64_t sweep_id) {
  return guarded("requeue runs of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql select(*db_,
               "SELECT id FROM runs WHERE sweep_id = ? AND status IN ('failed', 'diverged', 'interrupted') ORDER BY idx, id");
    select.stmt.bind(1, sweep_id);
    std::vector<std::int64_t> run_ids;
    while (select.step()) run_ids.push_back(select.stmt.getColumn(0).getInt64());
    back_to_pending(*db_, run_ids);
    transaction.commit();
    return run_ids;
  });
}

bool RunStore::requeue_run(std::int64_t run_id) {
  return guarded("requeue run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql select(*db_, "SELECT status IN ('failed', 'diverged', 'interrupted') FROM runs WHERE id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw no_such_run(path_, run_id);
    if (select.stmt.getColumn(0).getInt() == 0) return false;
    back_to_pending(*db_, {run_id});
    transaction.commit();
    return true;
  });
}

std::optional<std::int64_t> RunStore::finished_run_with_hash(const std::string& config_hash) const {
  return guarded("find a finished run with config hash " + config_hash + " in " + path_, [&] {
    Sql select(*db_, "SELECT id FROM runs WHERE config_hash = ? AND status = 'finished' ORDER BY id DESC LIMIT 1");
    select.stmt.bind(1, config_hash);
    return select.step() ? std::optional<std::int64_t>(select.stmt.getColumn(0).getInt64()) : std::nullopt;
  });
}

void RunStore::set_output_dir(std::int64_t run_id, const std::string& path) {
  guarded("set the output folder of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_, "UPDATE runs SET output_dir = ? WHERE id = ?");
    update.stmt.bind(1, path);
    update.stmt.bind(2, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

void RunStore::record_artifact(std::int64_t run_id, const std::string& kind, const std::string& path,
                               const std::string& sha256) {
  guarded("record artifact " + path + " of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    Sql insert(*db_, "INSERT OR REPLACE INTO artifacts (run_id, kind, path, sha256) VALUES (?, ?, ?, ?)");
    insert.stmt.bind(1, run_id);
    insert.stmt.bind(2, kind);
    insert.stmt.bind(3, path);
    insert.stmt.bind(4, sha256);
    insert.exec();
    transaction.commit();
  });
}

void RunStore::record_provenance(std::int64_t run_id, const std::vector<std::pair<std::string, std::string>>& values) {
  guarded("record provenance of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    Sql insert(*db_, "INSERT OR REPLACE INTO provenance (run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : values) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, key);
      insert.stmt.bind(3, value);
      insert.exec();
    }
    transaction.commit();
  });
}

void RunStore::record_epoch_metrics(std::int64_t run_id, int epoch,
                                    const std::vector<std::pair<std::string, double>>& values) {
  guarded("record epoch " + std::to_string(epoch) + " metrics of run " + std::to_string(run_id) + " in " + path_,
          [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    Sql insert(*db_, "INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, key, value) VALUES (?, ?, ?, ?)");
    for (const auto& [key, value] : values) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, epoch);
      insert.stmt.bind(3, key);
      insert.stmt.bind(4, value);  // SQLite stores a NaN as NULL
      insert.exec();
    }
    add_view_columns(*db_, "epoch_metrics", keys_of(values));
    transaction.commit();
  });
}

void RunStore::record_expert_metrics(std::int64_t run_id, const std::string& layer, int expert,
                                     const std::vector<std::pair<std::string, double>>& values) {
  guarded("record expert metrics of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    Sql insert(*db_,
               "INSERT OR REPLACE INTO expert_metrics (run_id, layer, expert, key, value) VALUES (?, ?, ?, ?, ?)");
    for (const auto& [key, value] : values) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, layer);
      insert.stmt.bind(3, expert);
      insert.stmt.bind(4, key);
      insert.stmt.bind(5, value);
      insert.exec();
    }
    add_view_columns(*db_, "expert_metrics", keys_of(values));
    transaction.commit();
  });
}

namespace {

// A run's final metrics, each replacing an earlier value of its key, inside the caller's transaction.
void write_metrics(SQLite::Database& db, std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  Sql insert(db, "INSERT OR REPLACE INTO metrics (run_id, key, value) VALUES (?, ?, ?)");
  for (const auto& [key, value] : metrics) {
    insert.stmt.reset();
    insert.stmt.bind(1, run_id);
    insert.stmt.bind(2, key);
    insert.stmt.bind(3, value);
    insert.exec();
  }
  add_view_columns(db, "metrics", keys_of(metrics));
}

}  // namespace

void RunStore::finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  guarded("finish run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_,
               "UPDATE runs SET status = 'finished', finished_at = " ARMOR_SQL_NOW ", error = NULL WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    write_metrics(*db_, run_id, metrics);
    transaction.commit();
  });
}

void RunStore::add_metrics(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  guarded("add metrics to run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql status(*db_, "SELECT status FROM runs WHERE id = ?");
    status.stmt.bind(1, run_id);
    if (!status.step()) throw no_such_run(path_, run_id);
    const std::string current = status.stmt.getColumn(0).getString();
    if (current != "finished") {
      throw StoreError(fmt::format("{}: run {} is {}: metrics are added only to a finished run", path_, run_id, current));
    }
    write_metrics(*db_, run_id, metrics);
    transaction.commit();
  });
}

void RunStore::record_image_results(std::int64_t run_id, const std::vector<ImageResult>& images) {
  guarded("record image results of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    Sql clear(*db_, "DELETE FROM image_results WHERE run_id = ?");
    clear.stmt.bind(1, run_id);
    clear.exec();
    Sql insert(*db_, "INSERT INTO image_results (run_id, image, clean_correct, robust, broken_by) VALUES (?, ?, ?, ?, ?)");
    for (const ImageResult& image : images) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, image.image);
      insert.stmt.bind(3, image.clean_correct ? 1 : 0);
      insert.stmt.bind(4, image.robust ? 1 : 0);
      if (image.broken_by.empty()) {
        insert.stmt.bind(5);
      } else {
        insert.stmt.bind(5, image.broken_by);
      }
      insert.exec();
    }
    transaction.commit();
  });
}

std::vector<ImageResult> RunStore::image_results(std::int64_t run_id) const {
  return guarded("read image results of run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_, "SELECT image, clean_correct, robust, broken_by FROM image_results WHERE run_id = ? ORDER BY image");
    select.stmt.bind(1, run_id);
    std::vector<ImageResult> images;
    while (select.step()) {
      ImageResult image;
      image.image = select.stmt.getColumn(0).getInt64();
      image.clean_correct = select.stmt.getColumn(1).getInt() != 0;
      image.robust = select.stmt.getColumn(2).getInt() != 0;
      if (!select.stmt.getColumn(3).isNull()) image.broken_by = select.stmt.getColumn(3).getString();
      images.push_back(std::move(image));
    }
    return images;
  });
}

void RunStore::fail_run(std::int64_t run_id, const std::string& error, RunStatus status) {
  if (status != RunStatus::failed && status != RunStatus::diverged && status != RunStatus::interrupted) {
    throw StoreError(std::string("fail_run takes failed, diverged or interrupted (got ") + to_string(status) + ")");
  }
  guarded("fail run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    // A finished run keeps its result: a late failure (say, while cleaning up) must not erase it.
    Sql update(*db_,
               "UPDATE runs SET status = ?, finished_at = " ARMOR_SQL_NOW
               ", error = ? WHERE id = ? AND status IN ('pending', 'running')");
    update.stmt.bind(1, to_string(status));
    update.stmt.bind(2, error);
    update.stmt.bind(3, run_id);
    update.exec();
    transaction.commit();
  });
}

// ---- shards -------------------------------------------------------------------------------------

namespace {

// The sweep columns copied between runs.db and a shard (runs use kRunColumns), named so that column
// order never matters.
constexpr const char* kSweepColumns = "id, uid, name, experiment, spec, status, created_at, finished_at";

struct ShardTable {
  const char* name;
  const char* columns;
  const char* view_source;  // its source name in view_columns, or nullptr
  bool replace_all;         // the shard's rows replace the run's (else they are added or updated)
};
// metrics and expert metrics describe the finished run only; curves, artifacts and provenance of an
// earlier attempt stay unless the shard rewrites them (a resumed run continues from its checkpoint).
constexpr ShardTable kShardTables[] = {
    {"metrics", "run_id, key, value", "metrics", true},
    {"expert_metrics", "run_id, layer, expert, key, value", "expert_metrics", true},
    {"epoch_metrics", "run_id, epoch, key, value", "epoch_metrics", false},
    {"artifacts", "run_id, kind, path, sha256, recorded_at", nullptr, false},
    {"provenance", "run_id, key, value", nullptr, false},
    {"image_results", "run_id, image, clean_correct, robust, broken_by", nullptr, true},
};

// A shard attached to a connection as schema `shard` for the life of this object. ATTACH and
// DETACH cannot run inside a transaction: the caller opens its transaction after this.
class AttachedShard {
 public:
  AttachedShard(SQLite::Database& db, const std::string& path) : db_(db) {
    Sql attach(db, "ATTACH DATABASE ? AS shard");
    attach.stmt.bind(1, path);
    attach.exec();
  }
  ~AttachedShard() {
    try {
      db_.exec("DETACH DATABASE shard");
    } catch (...) {  // a destructor never throws; a still-attached shard goes with the connection
    }
  }
  AttachedShard(const AttachedShard&) = delete;
  AttachedShard& operator=(const AttachedShard&) = delete;

 private:
  SQLite::Database& db_;
};

void exec_for_run(SQLite::Database& db, const std::string& sql, std::int64_t run_id) {
  Sql statement(db, sql);
  statement.stmt.bind(1, run_id);
  statement.exec();
}

bool has_ended(RunStatus status) { return status != RunStatus::pending && status != RunStatus::running; }

}  // namespace

void RunStore::export_run_shard(std::int64_t run_id, const std::string& shard_path) {
  guarded("write shard " + shard_path + " of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) std::filesystem::remove(shard_path + suffix);
    {
      RunStore shard(shard_path);  // the current schema
      exec_script(*shard.db_, "PRAGMA journal_mode = DELETE");
    }
    AttachedShard attached(*db_, shard_path);
    auto transaction = write_transaction(*db_);
    exec_for_run(*db_,
                 fmt::format("INSERT INTO shard.sweeps ({0}) SELECT {0} FROM main.sweeps "
                             "WHERE id = (SELECT sweep_id FROM main.runs WHERE id = ?)",
                             kSweepColumns),
                 run_id);
    exec_for_run(*db_, fmt::format("INSERT INTO shard.runs ({0}) SELECT {0} FROM main.runs WHERE id = ?", kRunColumns),
                 run_id);
    exec_for_run(*db_, "INSERT INTO shard.params SELECT run_id, key, value, type FROM main.params WHERE run_id = ?",
                 run_id);
    exec_for_run(*db_,
                 "INSERT INTO shard.epoch_metrics SELECT run_id, epoch, key, value FROM main.epoch_metrics "
                 "WHERE run_id = ?",
                 run_id);
    // Artifacts too: a resumed task checks its checkpoint against the sha256 recorded last.
    exec_for_run(*db_,
                 "INSERT INTO shard.artifacts SELECT run_id, kind, path, sha256, recorded_at FROM main.artifacts "
                 "WHERE run_id = ?",
                 run_id);
    exec_script(*db_, "INSERT INTO shard.view_columns SELECT source, key FROM main.view_columns");
    transaction.commit();
  });
  // The views of the shard itself (results, curves, experts), so that `armor db` can read it.
  RunStore shard(shard_path, Mode::shard);
  guarded("write the views of shard " + shard_path, [&] {
    auto transaction = write_transaction(*shard.db_);
    for (const ViewSpec& view : wide_views()) recreate_view(*shard.db_, view);
    transaction.commit();
  });
}

std::optional<RunStatus> RunStore::merge_shard(const std::string& shard_path, std::int64_t run_id) {
  return guarded("merge shard " + shard_path + " of run " + std::to_string(run_id) + " into " + path_, [&] {
    require_run(*db_, path_, run_id);
    if (!std::filesystem::exists(shard_path)) throw StoreError("shard " + shard_path + " does not exist");
    AttachedShard attached(*db_, shard_path);
    auto transaction = write_transaction(*db_);
    Sql select(*db_,
               "SELECT s.status, s.attempt = r.attempt FROM shard.runs s JOIN main.runs r ON r.id = s.id WHERE s.id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw StoreError("shard " + shard_path + " holds no run " + std::to_string(run_id));
    const RunStatus status = run_status_from_string(select.stmt.getColumn(0).getString());
    if (select.stmt.getColumn(1).getInt() == 0) return std::optional<RunStatus>();
    for (const ShardTable& table : kShardTables) {
      if (table.replace_all) exec_for_run(*db_, fmt::format("DELETE FROM main.{} WHERE run_id = ?", table.name), run_id);
      exec_for_run(*db_,
                   fmt::format("INSERT OR REPLACE INTO main.{0} ({1}) SELECT {1} FROM shard.{0} WHERE run_id = ?",
                               table.name, table.columns),
                   run_id);
      if (table.view_source == nullptr) continue;
      Sql keys(*db_, fmt::format("SELECT DISTINCT key FROM shard.{} WHERE run_id = ?", table.name));
      keys.stmt.bind(1, run_id);
      std::vector<std::string> names;
      while (keys.step()) names.push_back(keys.stmt.getColumn(0).getString());
      add_view_columns(*db_, table.view_source, names);
    }
    // The run's row: its progress always, its end once it has ended there.
    exec_for_run(*db_,
                 std::string("UPDATE main.runs SET (started_at, pid, heartbeat_at") +
                     (has_ended(status) ? ", status, finished_at, error" : "") +
                     ") = (SELECT started_at, pid, heartbeat_at" + (has_ended(status) ? ", status, finished_at, error" : "") +
                     " FROM shard.runs s WHERE s.id = main.runs.id) WHERE id = ?",
                 run_id);
    transaction.commit();
    return std::optional<RunStatus>(status);
  });
}

bool RunStore::assign_worker(std::int64_t run_id, const std::string& worker) {
  return guarded("name the worker of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_, "UPDATE runs SET worker = ? WHERE id = ? AND status = 'running'");
    update.stmt.bind(1, worker);
    update.stmt.bind(2, run_id);
    const bool changed = update.exec() > 0;
    transaction.commit();
    return changed;
  });
}

RunRecord RunStore::run(std::int64_t run_id) const {
  return guarded("read run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw no_such_run(path_, run_id);
    return read_run(select.stmt);
  });
}

SweepRecord RunStore::sweep(std::int64_t sweep_id) const {
  const std::vector<SweepRecord> found = read_sweeps(sweep_id);
  if (found.empty()) throw StoreError(path_ + " has no sweep " + std::to_string(sweep_id));
  return found.front();
}

std::vector<SweepRecord> RunStore::sweeps() const { return read_sweeps(std::nullopt); }

std::vector<SweepRecord> RunStore::read_sweeps(std::optional<std::int64_t> sweep_id) const {
  return guarded("read sweeps of " + path_, [&] {
    Sql select(*db_,
               fmt::format("SELECT {} FROM sweeps WHERE ?1 IS NULL OR id = ?1 ORDER BY id", kSweepColumns));
    bind_optional(select.stmt, 1, sweep_id);
    std::vector<SweepRecord> found;
    while (select.step()) {
      SweepRecord sweep;
      sweep.id = select.stmt.getColumn(0).getInt64();
      sweep.uid = select.stmt.getColumn(1).getString();
      sweep.name = select.stmt.getColumn(2).getString();
      sweep.experiment = select.stmt.getColumn(3).getString();
      sweep.spec = select.stmt.getColumn(4).getString();
      sweep.status = select.stmt.getColumn(5).getString();
      sweep.created_at = text_or_empty(select.stmt.getColumn(6));
      sweep.finished_at = text_or_empty(select.stmt.getColumn(7));
      found.push_back(std::move(sweep));
    }
    return found;
  });
}

std::optional<std::int64_t> RunStore::latest_sweep_id() const {
  return guarded("find the latest sweep in " + path_, [&] {
    Sql select(*db_, "SELECT max(id) FROM sweeps");
    select.step();
    const SQLite::Column id = select.stmt.getColumn(0);
    return id.isNull() ? std::nullopt : std::optional<std::int64_t>(id.getInt64());
  });
}

std::vector<RunRecord> RunStore::runs(std::optional<std::int64_t> sweep_id,
                                      std::optional<RunStatus> status) const {
  RunFilter filter;
  filter.sweep_id = sweep_id;
  if (status) filter.statuses.push_back(*status);
  return guarded("list runs of " + path_, [&] {
    const WhereSql where = filter_sql(filter);
    Sql select(*db_, std::string("SELECT ") + kRunColumns + " FROM runs r WHERE " + where.sql);
    bind_all(select.stmt, where.binds);
    std::vector<RunRecord> found;
    while (select.step()) found.push_back(read_run(select.stmt));
    return found;
  });
}

std::vector<std::string> RunStore::known_names() const {
  std::vector<std::string> names = run_field_names();
  for (const char* source : {"params", "metrics"}) {
    for (std::string& key : distinct_keys(source)) names.push_back(std::move(key));
  }
  return names;
}

std::vector<std::string> RunStore::distinct_keys(const std::string& table) const {
  // `table` is one of the store's own names, never user text.
  return guarded("read the keys of " + table + " in " + path_, [&] {
    Sql select(*db_, "SELECT DISTINCT key FROM " + table + " ORDER BY key");
    std::vector<std::string> keys;
    while (select.step()) keys.push_back(select.stmt.getColumn(0).getString());
    return keys;
  });
}

WhereSql RunStore::filter_sql(const RunFilter& filter) const {
  WhereSql where;
  where.sql = "1";
  if (filter.sweep_id) {
    where.sql += " AND r.sweep_id = ?";
    where.binds.emplace_back(ParamValue{*filter.sweep_id});
  }
  const auto any_of = [&](const char* column, const auto& values, auto&& to_value) {
    if (values.empty()) return;
    where.sql += std::string(" AND ") + column + " IN (";
    for (std::size_t i = 0; i < values.size(); ++i) {
      where.sql += i == 0 ? "?" : ", ?";
      where.binds.emplace_back(to_value(values[i]));
    }
    where.sql += ")";
  };
  any_of("r.status", filter.statuses, [](RunStatus status) { return ParamValue{std::string(to_string(status))}; });
  any_of("r.id", filter.run_ids, [](std::int64_t id) { return ParamValue{id}; });
  std::vector<std::string> param_keys;
  std::vector<std::string> metric_keys;
  if (!filter.where.empty() || !filter.order_by.empty()) {
    param_keys = distinct_keys("params");
    metric_keys = distinct_keys("metrics");
  }
  if (!filter.where.empty()) {
    where.sql += " AND ";
    where.append(compile_where(query::parse_where(filter.where), param_keys, metric_keys));
  }
  where.sql += " ORDER BY ";
  if (!filter.order_by.empty()) {
    const WhereSql key = compile_name(filter.order_by, param_keys, metric_keys);
    where.append(key);
    where.sql += " IS NULL, ";
    where.append(key);
    where.sql += filter.descending ? " DESC, " : ", ";
  }
  where.sql += "r.id";
  return where;
}

std::vector<RunSummary> RunStore::find_runs(const RunFilter& filter) const {
  const WhereSql where = filter_sql(filter);  // outside the guard: a bad --where is a UsageError
  return guarded("find runs in " + path_, [&] {
    std::vector<RunSummary> found;
    std::map<std::int64_t, std::size_t> position;
    Sql select(*db_, std::string("SELECT ") + kRunColumns + " FROM runs r WHERE " + where.sql);
    bind_all(select.stmt, where.binds);
    while (select.step()) {
      position[select.stmt.getColumn(0).getInt64()] = found.size();
      found.push_back(RunSummary{read_run(select.stmt), {}, {}});
    }
    if (found.empty()) return found;
    // Params and metrics of every selected run, in one statement each: the same selection as a
    // subquery (its ORDER BY is harmless there).
    Sql params(*db_,
               "SELECT run_id, key, value, type FROM params WHERE run_id IN (SELECT r.id FROM runs r WHERE " +
                   where.sql + ") ORDER BY run_id, rowid");
    bind_all(params.stmt, where.binds);
    while (params.step()) {
      found[position.at(params.stmt.getColumn(0).getInt64())].params.emplace_back(
          params.stmt.getColumn(1).getString(),
          read_param(params.stmt.getColumn(2), params.stmt.getColumn(3).getString()));
    }
    Sql metrics(*db_, "SELECT run_id, key, value FROM metrics WHERE run_id IN (SELECT r.id FROM runs r WHERE " +
                          where.sql + ")");
    bind_all(metrics.stmt, where.binds);
    while (metrics.step()) {
      found[position.at(metrics.stmt.getColumn(0).getInt64())].metrics[metrics.stmt.getColumn(1).getString()] =
          read_metric(metrics.stmt.getColumn(2));
    }
    return found;
  });
}

std::map<std::string, double> RunStore::metrics(std::int64_t run_id) const {
  return guarded("read metrics of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT key, value FROM metrics WHERE run_id = ?");
    select.stmt.bind(1, run_id);
    std::map<std::string, double> found;
    while (select.step()) found[select.stmt.getColumn(0).getString()] = read_metric(select.stmt.getColumn(1));
    return found;
  });
}

std::vector<std::pair<std::string, ParamValue>> RunStore::params(std::int64_t run_id) const {
  return guarded("read params of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    // rowid order is insertion order: the order the config resolved its keys in.
    Sql select(*db_, "SELECT key, value, type FROM params WHERE run_id = ? ORDER BY rowid");
    select.stmt.bind(1, run_id);
    std::vector<std::pair<std::string, ParamValue>> found;
    while (select.step()) {
      found.emplace_back(select.stmt.getColumn(0).getString(),
                         read_param(select.stmt.getColumn(1), select.stmt.getColumn(2).getString()));
    }
    return found;
  });
}

std::vector<EpochMetric> RunStore::epoch_metrics(std::int64_t run_id) const {
  return guarded("read epoch metrics of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT epoch, key, value FROM epoch_metrics WHERE run_id = ? ORDER BY epoch, key");
    select.stmt.bind(1, run_id);
    std::vector<EpochMetric> found;
    while (select.step()) {
      found.push_back(EpochMetric{select.stmt.getColumn(0).getInt(), select.stmt.getColumn(1).getString(),
                                  read_metric(select.stmt.getColumn(2))});
    }
    return found;
  });
}

std::vector<std::pair<std::int64_t, double>> RunStore::sweep_epoch_metric(std::int64_t sweep_id, int epoch,
                                                                          const std::string& key) const {
  return guarded("read epoch metric " + key + " of sweep " + std::to_string(sweep_id) + " from " + path_, [&] {
    Sql select(*db_,
               "SELECT e.run_id, e.value FROM epoch_metrics e JOIN runs r ON r.id = e.run_id "
               "WHERE r.sweep_id = ? AND e.epoch = ? AND e.key = ? AND e.value IS NOT NULL ORDER BY e.run_id");
    select.stmt.bind(1, sweep_id);
    select.stmt.bind(2, epoch);
    select.stmt.bind(3, key);
    std::vector<std::pair<std::int64_t, double>> found;
    while (select.step()) found.emplace_back(select.stmt.getColumn(0).getInt64(), select.stmt.getColumn(1).getDouble());
    return found;
  });
}

std::vector<ExpertMetric> RunStore::expert_metrics(std::int64_t run_id) const {
  return guarded("read expert metrics of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_,
               "SELECT layer, expert, key, value FROM expert_metrics WHERE run_id = ? ORDER BY layer, expert, key");
    select.stmt.bind(1, run_id);
    std::vector<ExpertMetric> found;
    while (select.step()) {
      found.push_back(ExpertMetric{select.stmt.getColumn(0).getString(), select.stmt.getColumn(1).getInt(),
                                   select.stmt.getColumn(2).getString(), read_metric(select.stmt.getColumn(3))});
    }
    return found;
  });
}

std::vector<ArtifactRecord> RunStore::artifacts(std::int64_t run_id) const {
  return guarded("read artifacts of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT kind, path, sha256, recorded_at FROM artifacts WHERE run_id = ? ORDER BY kind, path");
    select.stmt.bind(1, run_id);
    std::vector<ArtifactRecord> found;
    while (select.step()) {
      found.push_back(ArtifactRecord{select.stmt.getColumn(0).getString(), select.stmt.getColumn(1).getString(),
                                     select.stmt.getColumn(2).getString(), select.stmt.getColumn(3).getString()});
    }
    return found;
  });
}

std::vector<std::pair<std::string, std::string>> RunStore::provenance(std::int64_t run_id) const {
  return guarded("read provenance of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT key, value FROM provenance WHERE run_id = ? ORDER BY key");
    select.stmt.bind(1, run_id);
    std::vector<std::pair<std::string, std::string>> found;
    while (select.step()) found.emplace_back(select.stmt.getColumn(0).getString(), select.stmt.getColumn(1).getString());
    return found;
  });
}

std::vector<std::string> RunStore::remove_runs(const std::vector<std::int64_t>& run_ids) {
  return guarded("remove runs from " + path_, [&] {
    auto transaction = write_transaction(*db_);
    std::vector<std::string> folders;
    Sql select(*db_, "SELECT output_dir FROM runs WHERE id = ?");
    Sql remove(*db_, "DELETE FROM runs WHERE id = ?");  // params, metrics, ... cascade
    for (const std::int64_t run_id : run_ids) {
      select.stmt.reset();
      select.stmt.bind(1, run_id);
      if (!select.step()) throw no_such_run(path_, run_id);
      if (!select.stmt.getColumn(0).isNull()) folders.push_back(select.stmt.getColumn(0).getString());
      select.stmt.reset();
      remove.stmt.reset();
      remove.stmt.bind(1, run_id);
      remove.exec();
    }
    transaction.commit();
    return folders;
  });
}

std::vector<std::string> RunStore::remove_sweep(std::int64_t sweep_id) {
  return guarded("remove sweep " + std::to_string(sweep_id) + " from " + path_, [&] {
    auto transaction = write_transaction(*db_);
    std::vector<std::string> folders;
    Sql select(*db_, "SELECT output_dir FROM runs WHERE sweep_id = ? AND output_dir IS NOT NULL ORDER BY id");
    select.stmt.bind(1, sweep_id);
    while (select.step()) folders.push_back(select.stmt.getColumn(0).getString());
    Sql runs(*db_, "DELETE FROM runs WHERE sweep_id = ?");
    runs.stmt.bind(1, sweep_id);
    runs.exec();
    Sql sweep(*db_, "DELETE FROM sweeps WHERE id = ?");
    sweep.stmt.bind(1, sweep_id);
    if (sweep.exec() == 0) throw StoreError(path_ + " has no sweep " + std::to_string(sweep_id));
    transaction.commit();
    return folders;
  });
}

QueryResult RunStore::query(const std::string& sql) const {
  const StatementShape shape = inspect(db_->getHandle(), sql);
  if (shape.empty) throw StoreError("armor db sql got no statement: " + sql);
  // sqlite3_stmt_readonly is what keeps this read-only, even on a read-write store. It passes
  // BEGIN, ATTACH and the like, which change the connection instead of the file; those return no
  // columns, so requiring a result set refuses them too.
  if (!shape.read_only || shape.columns == 0) {
    throw StoreError("armor db sql runs read-only statements only: " + sql);
  }
  if (shape.more_statements) throw StoreError("armor db sql runs one statement at a time: " + sql);

  Sql statement(*db_, sql);
  QueryResult result;
  const int columns = statement.stmt.getColumnCount();
  for (int i = 0; i < columns; ++i) result.columns.emplace_back(statement.stmt.getColumnName(i));
  while (statement.step()) {
    std::vector<std::string> row;
    std::vector<CellType> types;
    row.reserve(static_cast<std::size_t>(columns));
    for (int i = 0; i < columns; ++i) {
      const SQLite::Column cell = statement.stmt.getColumn(i);
      row.push_back(cell_text(cell));
      types.push_back(cell_type(cell));
    }
    result.rows.push_back(std::move(row));
    result.types.push_back(std::move(types));
  }
  return result;
}

}  // namespace armor

#undef ARMOR_SQL_NOW
