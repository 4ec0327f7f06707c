#include "armor/store/run_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <sqlite3.h>

#include <array>
#include <limits>
#include <type_traits>

#include "armor/error.h"

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
};

// ---- errors ----------------------------------------------------------------------------------

// SQLiteCpp uses -1 for failures of its own (no SQLite code); StoreError shows only codes != 0.
int sqlite_code(const SQLite::Exception& error) {
  return error.getErrorCode() > 0 ? error.getErrorCode() : 0;
}

// Runs `body`, turning SQLite's exceptions into a StoreError naming `what` (the SQL or operation).
// StoreErrors thrown inside pass through unchanged, with the more precise SQL they already name.
template <typename Body>
auto guarded(const std::string& what, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const SQLite::Exception& error) {
    throw StoreError(what + ": " + error.what(), sqlite_code(error));
  }
}

StoreError no_such_run(const std::string& path, std::int64_t run_id) {
  return StoreError(path + " has no run " + std::to_string(run_id));
}

// ---- statements ------------------------------------------------------------------------------

// A prepared statement whose failures name its SQL. Binding stays on `stmt`: a bad bind is a bug
// here, and the public method's guard names the operation.
struct Sql {
  Sql(const SQLite::Database& db, const std::string& text)
      : sql(text), stmt(guarded(text, [&] { return SQLite::Statement(db, text); })) {}

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
  guarded(sql, [&] { db.exec(sql); });
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

// ---- overrides as a JSON array of strings -------------------------------------------------------

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        } else {
          out += c;  // UTF-8 passes through as it is
        }
    }
  }
  return out + "\"";
}

std::string json_array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ",";
    out += json_string(items[i]);
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
    "id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host, "
    "created_at, started_at, finished_at, error";

// One row selected with kRunColumns, in that order.
RunRecord read_run(const SQLite::Statement& row) {
  RunRecord run;
  run.id = row.getColumn(0).getInt64();
  if (!row.getColumn(1).isNull()) run.sweep_id = row.getColumn(1).getInt64();
  run.index = row.getColumn(2).getInt();
  run.status = run_status_from_string(row.getColumn(3).getString());
  run.experiment = row.getColumn(4).getString();
  run.config = row.getColumn(5).getString();
  run.overrides = JsonArrayReader(row.getColumn(6).getString()).read();
  run.config_hash = row.getColumn(7).getString();
  run.seed = row.getColumn(8).getInt64();
  run.revision = row.getColumn(9).getString();
  run.host = row.getColumn(10).getString();
  run.created_at = text_or_empty(row.getColumn(11));
  run.started_at = text_or_empty(row.getColumn(12));
  run.finished_at = text_or_empty(row.getColumn(13));
  run.error = text_or_empty(row.getColumn(14));
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
  }
  return "invalid";  // only reachable through a cast of an out-of-range integer
}

RunStatus run_status_from_string(const std::string& text) {
  for (const RunStatus status :
       {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed}) {
    if (text == to_string(status)) return status;
  }
  throw StoreError("unknown run status '" + text + "' (expected pending, running, finished or failed)");
}

// ---- RunStore ----------------------------------------------------------------------------------

RunStore::RunStore(const std::string& path, Mode mode) : path_(path) {
  const bool writable = mode == Mode::read_write;
  const int flags = writable ? (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE) : SQLite::OPEN_READONLY;
  try {
    db_ = std::make_unique<SQLite::Database>(path, flags, kBusyTimeoutMs);
  } catch (const SQLite::Exception& error) {
    throw StoreError("cannot open results database " + path + (writable ? "" : " read-only") + ": " +
                         error.what(),
                     sqlite_code(error));
  }
  // Checked before anything else touches the file: a newer armor's database is left as it is.
  const int version = guarded("read schema version of " + path, [&] { return user_version(*db_); });
  if (version > kSchemaVersion) throw StoreError(version_refusal(path, version));

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
  // WAL lets `armor db` read while a sweep writes. An in-memory database has no journal file.
  if (path != ":memory:" && !path.empty()) exec_script(*db_, "PRAGMA journal_mode = WAL");
  migrate();
}

RunStore::~RunStore() = default;

void RunStore::migrate() {
  // Most opens find the schema current: no need to take the write lock.
  if (guarded("read schema version of " + path_, [&] { return user_version(*db_); }) == kSchemaVersion) return;
  // One transaction per step, re-reading the version under the write lock so that two processes
  // opening a fresh database at once do not both run the same migration.
  while (true) {
    auto transaction = guarded("begin migration of " + path_, [&] { return write_transaction(*db_); });
    const int version = user_version(*db_);
    if (version > kSchemaVersion) throw StoreError(version_refusal(path_, version));
    if (version == kSchemaVersion) return;  // the transaction rolls back: it wrote nothing
    exec_script(*db_, kMigrations[static_cast<std::size_t>(version)]);
    exec_script(*db_, "PRAGMA user_version = " + std::to_string(version + 1));
    guarded("commit migration of " + path_, [&] { transaction.commit(); });
  }
}

std::int64_t RunStore::insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run) {
  Sql insert(*db_,
             "INSERT INTO runs (sweep_id, idx, experiment, config, overrides, config_hash, seed, revision, host) "
             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  bind_optional(insert.stmt, 1, sweep_id);
  insert.stmt.bind(2, run.index);
  insert.stmt.bind(3, run.experiment);
  insert.stmt.bind(4, run.config);
  insert.stmt.bind(5, json_array(run.overrides));
  insert.stmt.bind(6, run.config_hash);
  insert.stmt.bind(7, run.seed);
  insert.stmt.bind(8, run.revision);
  insert.stmt.bind(9, run.host);
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

void RunStore::start_run(std::int64_t run_id) {
  guarded("start run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    // A restarted run forgets the end and the error of its previous attempt.
    Sql update(*db_,
               "UPDATE runs SET status = 'running', started_at = " ARMOR_SQL_NOW
               ", finished_at = NULL, error = NULL WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
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
    transaction.commit();
  });
}

void RunStore::finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  guarded("finish run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    Sql update(*db_,
               "UPDATE runs SET status = 'finished', finished_at = " ARMOR_SQL_NOW ", error = NULL WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    Sql insert(*db_, "INSERT OR REPLACE INTO metrics (run_id, key, value) VALUES (?, ?, ?)");
    for (const auto& [key, value] : metrics) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, key);
      insert.stmt.bind(3, value);
      insert.exec();
    }
    transaction.commit();
  });
}

void RunStore::fail_run(std::int64_t run_id, const std::string& error) {
  guarded("fail run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(*db_);
    require_run(*db_, path_, run_id);
    // A finished run keeps its result: a late failure (say, while cleaning up) must not erase it.
    Sql update(*db_,
               "UPDATE runs SET status = 'failed', finished_at = " ARMOR_SQL_NOW
               ", error = ? WHERE id = ? AND status IN ('pending', 'running')");
    update.stmt.bind(1, error);
    update.stmt.bind(2, run_id);
    update.exec();
    transaction.commit();
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

std::vector<RunRecord> RunStore::runs(std::optional<std::int64_t> sweep_id,
                                      std::optional<RunStatus> status) const {
  return guarded("list runs of " + path_, [&] {
    std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE 1";
    if (sweep_id) sql += " AND sweep_id = :sweep";
    if (status) sql += " AND status = :status";
    Sql select(*db_, sql + " ORDER BY id");
    if (sweep_id) select.stmt.bind(":sweep", *sweep_id);
    if (status) select.stmt.bind(":status", to_string(*status));
    std::vector<RunRecord> found;
    while (select.step()) found.push_back(read_run(select.stmt));
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
    row.reserve(static_cast<std::size_t>(columns));
    for (int i = 0; i < columns; ++i) row.push_back(cell_text(statement.stmt.getColumn(i)));
    result.rows.push_back(std::move(row));
  }
  return result;
}

}  // namespace armor

#undef ARMOR_SQL_NOW
