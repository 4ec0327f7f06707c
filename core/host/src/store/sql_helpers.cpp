#include "sql_helpers.h"

#include <sqlite3.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "wide_views.h"

namespace armor::store_sql {

int sqlite_code(const SQLite::Exception& error) { return error.getErrorCode() > 0 ? error.getErrorCode() : 0; }

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

std::string in_database(const SQLite::Database& db, const std::string& sql) { return db.getFilename() + ": " + sql; }

Sql::Sql(const SQLite::Database& db, const std::string& text)
    : sql(in_database(db, text)), stmt(guarded(sql, [&] { return SQLite::Statement(db, text); })) {}

int Sql::exec() {
  return guarded(sql, [&] { return stmt.exec(); });
}

bool Sql::step() {
  return guarded(sql, [&] { return stmt.executeStep(); });
}

void exec_script(SQLite::Database& db, const std::string& sql) {
  guarded(in_database(db, sql), [&] { db.exec(sql); });
}

void exec_for_run(SQLite::Database& db, const std::string& sql, std::int64_t run_id) {
  Sql statement(db, sql);
  statement.stmt.bind(1, run_id);
  statement.exec();
}

int user_version(const SQLite::Database& db) {
  Sql pragma(db, "PRAGMA user_version");
  pragma.step();
  return pragma.stmt.getColumn(0).getInt();
}

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

std::string text_or_empty(const SQLite::Column& column) { return column.isNull() ? std::string() : column.getString(); }

StoreError no_such_run(const std::string& path, std::int64_t run_id) {
  return StoreError(path + " has no run " + std::to_string(run_id));
}

StoreError no_such_sweep(const std::string& path, std::int64_t sweep_id) {
  return StoreError(path + " has no sweep " + std::to_string(sweep_id));
}

void require_run(const SQLite::Database& db, const std::string& path, std::int64_t run_id) {
  Sql select(db, "SELECT 1 FROM runs WHERE id = ?");
  select.stmt.bind(1, run_id);
  if (!select.step()) throw no_such_run(path, run_id);
}

const char* const kRunColumns =
    "id, uid, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host, "
    "created_at, started_at, finished_at, error, output_dir, worker, pid, attempt, heartbeat_at";
const char* const kSweepColumns = "id, uid, name, experiment, spec, status, created_at, finished_at";

RunRecord read_run(const SQLite::Statement& row) {
  RunRecord run;
  run.id = row.getColumn(0).getInt64();
  run.uid = row.getColumn(1).getString();
  if (!row.getColumn(2).isNull()) run.sweep_id = row.getColumn(2).getInt64();
  run.index = row.getColumn(3).getInt();
  run.status = run_status_from_string(row.getColumn(4).getString());
  run.experiment = row.getColumn(5).getString();
  run.config = row.getColumn(6).getString();
  run.overrides = overrides_from_json(row.getColumn(7).getString());
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

SweepRecord read_sweep(const SQLite::Statement& row) {
  SweepRecord sweep;
  sweep.id = row.getColumn(0).getInt64();
  sweep.uid = row.getColumn(1).getString();
  sweep.name = row.getColumn(2).getString();
  sweep.experiment = row.getColumn(3).getString();
  sweep.spec = row.getColumn(4).getString();
  sweep.status = row.getColumn(5).getString();
  sweep.created_at = text_or_empty(row.getColumn(6));
  sweep.finished_at = text_or_empty(row.getColumn(7));
  return sweep;
}

std::string overrides_to_json(const std::vector<std::string>& overrides) {
  try {
    return nlohmann::json(overrides).dump();  // compact: ["a=1","b=\"x\""]; UTF-8 kept as it is
  } catch (const nlohmann::json::exception& error) {
    throw StoreError(std::string("an override is not valid UTF-8: ") + error.what());
  }
}

std::vector<std::string> overrides_from_json(const std::string& text) {
  const auto malformed = [&](const std::string& why) { return StoreError("malformed overrides " + text + ": " + why); };
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw malformed(error.what());
  }
  if (!parsed.is_array()) throw malformed("not a JSON array");
  std::vector<std::string> overrides;
  overrides.reserve(parsed.size());
  for (const nlohmann::json& item : parsed) {
    if (!item.is_string()) throw malformed("an item is not a string");
    overrides.push_back(item.get<std::string>());
  }
  return overrides;
}

void write_metrics(SQLite::Database& db, std::int64_t run_id,
                   const std::vector<std::pair<std::string, double>>& metrics) {
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

}  // namespace armor::store_sql
