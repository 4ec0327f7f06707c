#include "armor/store/shard_exchange.h"

#include <fmt/format.h>

#include <filesystem>

#include "sql_helpers.h"
#include "store_schema.h"
#include "wide_views.h"

namespace armor {

using namespace store_sql;

namespace {

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
    {"eval_checks", "run_id, metric, \"check\", value, flagged, detail", nullptr, true},
    {"robustness_curves", "run_id, metric, image, min_eps, max_eps", nullptr, true},
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

bool has_ended(RunStatus status) { return status != RunStatus::pending && status != RunStatus::running; }

}  // namespace

ShardExchange::ShardExchange(SQLite::Database& db, std::string path) : db_(db), path_(std::move(path)) {}

void ShardExchange::export_run_shard(std::int64_t run_id, const std::string& shard_path) {
  guarded("write shard " + shard_path + " of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(db_, path_, run_id);
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) std::filesystem::remove(shard_path + suffix);
    {
      const auto shard = StoreSchema::open(shard_path, StoreSchema::Mode::read_write);  // the current schema
      exec_script(*shard, "PRAGMA journal_mode = DELETE");
    }
    AttachedShard attached(db_, shard_path);
    auto transaction = write_transaction(db_);
    exec_for_run(db_,
                 fmt::format("INSERT INTO shard.sweeps ({0}) SELECT {0} FROM main.sweeps "
                             "WHERE id = (SELECT sweep_id FROM main.runs WHERE id = ?)",
                             kSweepColumns),
                 run_id);
    exec_for_run(db_, fmt::format("INSERT INTO shard.runs ({0}) SELECT {0} FROM main.runs WHERE id = ?", kRunColumns),
                 run_id);
    exec_for_run(db_, "INSERT INTO shard.params SELECT run_id, key, value, type FROM main.params WHERE run_id = ?",
                 run_id);
    exec_for_run(db_,
                 "INSERT INTO shard.epoch_metrics SELECT run_id, epoch, key, value FROM main.epoch_metrics "
                 "WHERE run_id = ?",
                 run_id);
    // Artifacts too: a resumed task checks its checkpoint against the sha256 recorded last.
    exec_for_run(db_,
                 "INSERT INTO shard.artifacts SELECT run_id, kind, path, sha256, recorded_at FROM main.artifacts "
                 "WHERE run_id = ?",
                 run_id);
    exec_script(db_, "INSERT INTO shard.view_columns SELECT source, key FROM main.view_columns");
    transaction.commit();
  });
  // The views of the shard itself (results, curves, experts), so that `armor db` can read it.
  const auto shard = StoreSchema::open(shard_path, StoreSchema::Mode::shard);
  guarded("write the views of shard " + shard_path, [&] {
    auto transaction = write_transaction(*shard);
    recreate_views(*shard);
    transaction.commit();
  });
}

std::optional<RunStatus> ShardExchange::merge_shard(const std::string& shard_path, std::int64_t run_id) {
  return guarded("merge shard " + shard_path + " of run " + std::to_string(run_id) + " into " + path_, [&] {
    require_run(db_, path_, run_id);
    if (!std::filesystem::exists(shard_path)) throw StoreError("shard " + shard_path + " does not exist");
    AttachedShard attached(db_, shard_path);
    auto transaction = write_transaction(db_);
    Sql select(
        db_, "SELECT s.status, s.attempt = r.attempt FROM shard.runs s JOIN main.runs r ON r.id = s.id WHERE s.id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw StoreError("shard " + shard_path + " holds no run " + std::to_string(run_id));
    const RunStatus status = run_status_from_string(select.stmt.getColumn(0).getString());
    if (select.stmt.getColumn(1).getInt() == 0) return std::optional<RunStatus>();
    for (const ShardTable& table : kShardTables) {
      if (table.replace_all) exec_for_run(db_, fmt::format("DELETE FROM main.{} WHERE run_id = ?", table.name), run_id);
      exec_for_run(db_,
                   fmt::format("INSERT OR REPLACE INTO main.{0} ({1}) SELECT {1} FROM shard.{0} WHERE run_id = ?",
                               table.name, table.columns),
                   run_id);
      if (table.view_source == nullptr) continue;
      Sql keys(db_, fmt::format("SELECT DISTINCT key FROM shard.{} WHERE run_id = ?", table.name));
      keys.stmt.bind(1, run_id);
      std::vector<std::string> names;
      while (keys.step()) names.push_back(keys.stmt.getColumn(0).getString());
      add_view_columns(db_, table.view_source, names);
    }
    // The run's row: its progress always, its end once it has ended there.
    const std::string ended = has_ended(status) ? ", status, finished_at, error" : "";
    exec_for_run(db_,
                 "UPDATE main.runs SET (started_at, pid, heartbeat_at" + ended +
                     ") = (SELECT started_at, pid, heartbeat_at" + ended +
                     " FROM shard.runs s WHERE s.id = main.runs.id) WHERE id = ?",
                 run_id);
    transaction.commit();
    return std::optional<RunStatus>(status);
  });
}

}  // namespace armor
