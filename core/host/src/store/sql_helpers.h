#pragma once
// What every part of the store shares (private to core/host/src/store): turning SQLite's exceptions
// into StoreErrors that name the SQL, prepared statements, write transactions, binding and reading
// typed values, and the columns of a run and of a sweep.

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "armor/error.h"
#include "armor/params/param_value.h"
#include "armor/store/store_records.h"

// The current time as ISO-8601 UTC text with milliseconds, computed by SQLite inside the statement.
#define ARMOR_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

namespace armor::store_sql {

// SQLiteCpp uses -1 for failures of its own (no SQLite code); StoreError shows only codes != 0.
int sqlite_code(const SQLite::Exception& error);
// What the user can do about a failure, by SQLite's primary result code ("" when nothing helps).
std::string remedy(int code);

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
std::string in_database(const SQLite::Database& db, const std::string& sql);

// A prepared statement whose failures name its SQL. Binding stays on `stmt`: a bad bind is a bug
// here, and the public method's guard names the operation.
struct Sql {
  Sql(const SQLite::Database& db, const std::string& text);
  int exec();   // runs a statement that returns no rows; returns the number of rows it changed
  bool step();  // fetches the next row; false when there is none

  std::string sql;
  SQLite::Statement stmt;
};

void exec_script(SQLite::Database& db, const std::string& sql);
// Runs `sql` with its single `?` bound to `run_id`.
void exec_for_run(SQLite::Database& db, const std::string& sql, std::int64_t run_id);
int user_version(const SQLite::Database& db);

// Writes take the write lock up front (BEGIN IMMEDIATE): a deferred transaction that reads first
// and then writes can fail at once with SQLITE_BUSY when another process wrote in between,
// without waiting out the busy timeout.
SQLite::Transaction write_transaction(SQLite::Database& db);

void bind_optional(SQLite::Statement& stmt, int index, const std::optional<std::int64_t>& value);
// Binds a config value with its own SQLite type; booleans become the integers 0 and 1.
void bind_param(SQLite::Statement& stmt, int index, const ParamValue& value);
// Binds values[i] to parameter i + 1; nullopt binds NULL.
void bind_all(SQLite::Statement& stmt, const std::vector<std::optional<ParamValue>>& values);

ParamValue read_param(const SQLite::Column& value, const std::string& type);
double read_metric(const SQLite::Column& value);  // NULL reads as NaN
std::string text_or_empty(const SQLite::Column& column);

StoreError no_such_run(const std::string& path, std::int64_t run_id);
StoreError no_such_sweep(const std::string& path, std::int64_t sweep_id);
// Fails with the run's id when the run does not exist, so that a write to a missing run reads
// "no run 7" rather than "FOREIGN KEY constraint failed".
void require_run(const SQLite::Database& db, const std::string& path, std::int64_t run_id);

// The columns of a run and of a sweep, in the order read_run and read_sweep expect; also what a
// shard copies, named so that column order never matters.
extern const char* const kRunColumns;
extern const char* const kSweepColumns;
RunRecord read_run(const SQLite::Statement& row);
SweepRecord read_sweep(const SQLite::Statement& row);

// A run's overrides as the JSON array of strings in runs.overrides, and back. StoreError when an
// override is not UTF-8 or the stored text is not such an array.
std::string overrides_to_json(const std::vector<std::string>& overrides);
std::vector<std::string> overrides_from_json(const std::string& text);

template <typename Value>
std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Value>>& values) {
  std::vector<std::string> keys;
  keys.reserve(values.size());
  for (const auto& entry : values) keys.push_back(entry.first);
  return keys;
}

// A run's final metrics, each replacing an earlier value of its key, inside the caller's transaction
// (the views gain a column for a new key).
void write_metrics(SQLite::Database& db, std::int64_t run_id,
                   const std::vector<std::pair<std::string, double>>& metrics);

}  // namespace armor::store_sql
