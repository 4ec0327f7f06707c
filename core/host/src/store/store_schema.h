#pragma once
// StoreSchema (private to the store): the schema of runs.db, version RunStore::kSchemaVersion in
// PRAGMA user_version, its migrations (1 -> 2 -> 3 -> 4, only ever appended), and opening a database
// in one of four ways. Every connection of the store comes from StoreSchema::open; nothing else
// creates or migrates a schema. The tables are described in armor/store/run_store.h and the README.

#include <memory>
#include <string>

namespace SQLite {
class Database;
}

namespace armor::store_sql {

class StoreSchema {
 public:
  // read_write creates and migrates; read_only never writes (and refuses an older schema); query
  // migrates an older armor database if there is one, then reads only; shard opens an existing
  // shard read-write, never creates or migrates, and keeps SQLite's rollback journal: WAL's shared
  // memory does not work across the hosts of a network file system.
  enum class Mode { read_write, read_only, query, shard };

  // Opens the database at `path` (":memory:" works). Refuses a database whose user_version is newer
  // than RunStore::kSchemaVersion, naming both versions, before anything touches the file.
  static std::unique_ptr<SQLite::Database> open(const std::string& path, Mode mode);

 private:
  // Takes a read-write connection to the current version, one transaction per step.
  static void migrate(SQLite::Database& db, const std::string& path);
};

}  // namespace armor::store_sql
