#pragma once
// ShardExchange: runs executed on another machine (Slurm tasks) never open runs.db; each writes into
// a shard database of its own. The process that owns runs.db exports a run's shard before the task
// starts and merges it back once the task has written into it. Only that process creates shards, so
// schema changes happen only there. Get one from RunStore::shards().

#include <cstdint>
#include <optional>
#include <string>

#include "armor/store/store_records.h"

namespace SQLite {
class Database;
}

namespace armor {

class ShardExchange {
 public:
  // Over a connection that `db`'s owner (RunStore) keeps open longer than this exchange.
  ShardExchange(SQLite::Database& db, std::string path);

  // Writes a fresh shard database at `shard_path` (replacing any file there) holding the run's sweep
  // and run rows with their ids, its params, its epoch metrics so far and its artifacts.
  void export_run_shard(std::int64_t run_id, const std::string& shard_path);
  // Copies what a shard recorded about `run_id` (metrics, epoch and expert metrics, artifacts,
  // provenance, image results, and when the run ended there its status, times and error) into this
  // database, in one transaction, replacing what it held for that run: merging a shard again changes
  // nothing. Returns the run's status in the shard, or nullopt (nothing merged) when the shard
  // belongs to another attempt of the run.
  std::optional<RunStatus> merge_shard(const std::string& shard_path, std::int64_t run_id);

 private:
  SQLite::Database& db_;
  std::string path_;
};

}  // namespace armor
