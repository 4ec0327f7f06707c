#include "armor/store/run_queue.h"

#include "armor/store/results_reader.h"
#include "sql_helpers.h"
#include "wide_views.h"

namespace armor {

using namespace store_sql;

namespace {

// Puts runs back to pending for a new attempt (attempt kept), inside the caller's transaction. The
// results of the failed attempt go; its per-epoch curves stay, because the new attempt continues
// from the run's last checkpoint and rewrites every epoch it trains again.
void back_to_pending(SQLite::Database& db, const std::vector<std::int64_t>& run_ids) {
  const char* const kStatements[] = {
      ("UPDATE runs SET status = 'pending', error = NULL, started_at = NULL, finished_at = NULL, pid = 0, "
       "worker = NULL, heartbeat_at = NULL WHERE id = ?"),
      "DELETE FROM metrics WHERE run_id = ?",
      "DELETE FROM expert_metrics WHERE run_id = ?",
      "DELETE FROM image_results WHERE run_id = ?",
      "DELETE FROM eval_checks WHERE run_id = ?",
      "DELETE FROM robustness_curves WHERE run_id = ?"};
  for (const char* sql : kStatements) {
    Sql statement(db, sql);
    for (const std::int64_t run_id : run_ids) {
      statement.stmt.reset();
      statement.stmt.bind(1, run_id);
      statement.exec();
    }
  }
}

}  // namespace

RunQueue::RunQueue(SQLite::Database& db, std::string path) : db_(db), path_(std::move(path)) {}

std::int64_t RunQueue::insert_run(std::optional<std::int64_t> sweep_id, const NewRun& run) {
  Sql insert(db_,
             "INSERT INTO runs (sweep_id, idx, experiment, config, overrides, config_hash, seed, revision, host, "
             "output_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  bind_optional(insert.stmt, 1, sweep_id);
  insert.stmt.bind(2, run.index);
  insert.stmt.bind(3, run.experiment);
  insert.stmt.bind(4, run.config);
  insert.stmt.bind(5, overrides_to_json(run.overrides));
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
  const std::int64_t run_id = db_.getLastInsertRowid();

  Sql param(db_, "INSERT INTO params (run_id, key, value, type) VALUES (?, ?, ?, ?)");
  for (const auto& [key, value] : run.params) {
    param.stmt.reset();
    param.stmt.bind(1, run_id);
    param.stmt.bind(2, key);
    bind_param(param.stmt, 3, value);
    param.stmt.bind(4, type_name(value));
    param.exec();
  }
  add_view_columns(db_, "params", keys_of(run.params));
  return run_id;
}

std::int64_t RunQueue::add_run(const NewRun& run) {
  return guarded("add run to " + path_, [&] {
    auto transaction = write_transaction(db_);
    const std::int64_t run_id = insert_run(std::nullopt, run);
    transaction.commit();
    return run_id;
  });
}

std::pair<std::int64_t, std::vector<std::int64_t>> RunQueue::add_sweep(const NewSweep& sweep,
                                                                       const std::vector<NewRun>& runs) {
  return guarded("add sweep '" + sweep.name + "' to " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql insert(db_, "INSERT INTO sweeps (name, experiment, spec) VALUES (?, ?, ?)");
    insert.stmt.bind(1, sweep.name);
    insert.stmt.bind(2, sweep.experiment);
    insert.stmt.bind(3, sweep.spec);
    insert.exec();
    const std::int64_t sweep_id = db_.getLastInsertRowid();
    std::vector<std::int64_t> run_ids;
    run_ids.reserve(runs.size());
    for (const NewRun& run : runs) run_ids.push_back(insert_run(sweep_id, run));
    transaction.commit();
    return std::make_pair(sweep_id, std::move(run_ids));
  });
}

void RunQueue::finish_sweep(std::int64_t sweep_id) {
  guarded("finish sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql update(db_, "UPDATE sweeps SET finished_at = " ARMOR_SQL_NOW
                    ", status = CASE WHEN EXISTS "
                    "(SELECT 1 FROM runs WHERE sweep_id = sweeps.id AND status != 'finished') "
                    "THEN 'failed' ELSE 'finished' END WHERE id = ?");
    update.stmt.bind(1, sweep_id);
    if (update.exec() == 0) throw no_such_sweep(path_, sweep_id);
    transaction.commit();
  });
}

std::optional<std::int64_t> RunQueue::claim_run(std::int64_t sweep_id, const std::string& worker,
                                                std::optional<std::int64_t> only_run) {
  return guarded("claim a run of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    // BEGIN IMMEDIATE holds the write lock from the SELECT to the UPDATE: two workers never claim
    // the same run.
    auto transaction = write_transaction(db_);
    Sql select(db_,
               "SELECT id FROM runs WHERE sweep_id = ? AND status = 'pending' AND (? IS NULL OR id = ?) "
               "ORDER BY idx, id LIMIT 1");
    select.stmt.bind(1, sweep_id);
    if (only_run) {
      select.stmt.bind(2, *only_run);
      select.stmt.bind(3, *only_run);
    }
    if (!select.step()) return std::optional<std::int64_t>();
    const std::int64_t run_id = select.stmt.getColumn(0).getInt64();
    Sql update(
        db_,
        "UPDATE runs SET status = 'running', worker = ?, attempt = attempt + 1, pid = 0, heartbeat_at = " ARMOR_SQL_NOW
        ", started_at = NULL, finished_at = NULL, error = NULL WHERE id = ?");
    update.stmt.bind(1, worker);
    update.stmt.bind(2, run_id);
    update.exec();
    transaction.commit();
    return std::optional<std::int64_t>(run_id);
  });
}

bool RunQueue::assign_worker(std::int64_t run_id, const std::string& worker) {
  return guarded("name the worker of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql update(db_, "UPDATE runs SET worker = ? WHERE id = ? AND status = 'running'");
    update.stmt.bind(1, worker);
    update.stmt.bind(2, run_id);
    const bool changed = update.exec() > 0;
    transaction.commit();
    return changed;
  });
}

void RunQueue::start_run(std::int64_t run_id, std::int64_t pid) {
  guarded("start run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    // A restarted run forgets the end and the error of its previous attempt.
    Sql update(db_, "UPDATE runs SET status = 'running', pid = ?, started_at = " ARMOR_SQL_NOW
                    ", heartbeat_at = " ARMOR_SQL_NOW ", finished_at = NULL, error = NULL WHERE id = ?");
    update.stmt.bind(1, pid);
    update.stmt.bind(2, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

void RunQueue::heartbeat(std::int64_t run_id) {
  guarded("heartbeat of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql update(db_, "UPDATE runs SET heartbeat_at = " ARMOR_SQL_NOW " WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

void RunQueue::finish_run(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  guarded("finish run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql update(db_, "UPDATE runs SET status = 'finished', finished_at = " ARMOR_SQL_NOW ", error = NULL WHERE id = ?");
    update.stmt.bind(1, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    write_metrics(db_, run_id, metrics);
    transaction.commit();
  });
}

void RunQueue::fail_run(std::int64_t run_id, const std::string& error, RunStatus status) {
  if (status != RunStatus::failed && status != RunStatus::diverged && status != RunStatus::interrupted) {
    throw StoreError(std::string("fail_run takes failed, diverged or interrupted (got ") + to_string(status) + ")");
  }
  guarded("fail run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    // A finished run keeps its result: a late failure (say, while cleaning up) must not erase it.
    Sql update(db_, "UPDATE runs SET status = ?, finished_at = " ARMOR_SQL_NOW
                    ", error = ? WHERE id = ? AND status IN ('pending', 'running')");
    update.stmt.bind(1, to_string(status));
    update.stmt.bind(2, error);
    update.stmt.bind(3, run_id);
    update.exec();
    transaction.commit();
  });
}

std::vector<std::int64_t> RunQueue::reap_dead_runs(std::int64_t sweep_id, const ProcessLiveness& liveness) {
  return guarded("reap dead runs of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    const auto dead = ResultsReader(db_, path_).dead_runs(sweep_id, liveness);
    Sql update(db_, "UPDATE runs SET status = 'interrupted', finished_at = " ARMOR_SQL_NOW
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

std::vector<std::int64_t> RunQueue::requeue(std::int64_t sweep_id) {
  return guarded("requeue runs of sweep " + std::to_string(sweep_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql select(
        db_,
        "SELECT id FROM runs WHERE sweep_id = ? AND status IN ('failed', 'diverged', 'interrupted') ORDER BY idx, id");
    select.stmt.bind(1, sweep_id);
    std::vector<std::int64_t> run_ids;
    while (select.step()) run_ids.push_back(select.stmt.getColumn(0).getInt64());
    back_to_pending(db_, run_ids);
    transaction.commit();
    return run_ids;
  });
}

bool RunQueue::requeue_run(std::int64_t run_id) {
  return guarded("requeue run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql select(db_, "SELECT status IN ('failed', 'diverged', 'interrupted') FROM runs WHERE id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw no_such_run(path_, run_id);
    if (select.stmt.getColumn(0).getInt() == 0) return false;
    back_to_pending(db_, {run_id});
    transaction.commit();
    return true;
  });
}

std::vector<std::string> RunQueue::remove_runs(const std::vector<std::int64_t>& run_ids) {
  return guarded("remove runs from " + path_, [&] {
    auto transaction = write_transaction(db_);
    std::vector<std::string> folders;
    Sql select(db_, "SELECT output_dir FROM runs WHERE id = ?");
    Sql remove(db_, "DELETE FROM runs WHERE id = ?");  // params, metrics, ... cascade
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

std::vector<std::string> RunQueue::remove_sweep(std::int64_t sweep_id) {
  return guarded("remove sweep " + std::to_string(sweep_id) + " from " + path_, [&] {
    auto transaction = write_transaction(db_);
    std::vector<std::string> folders;
    Sql select(db_, "SELECT output_dir FROM runs WHERE sweep_id = ? AND output_dir IS NOT NULL ORDER BY id");
    select.stmt.bind(1, sweep_id);
    while (select.step()) folders.push_back(select.stmt.getColumn(0).getString());
    Sql runs(db_, "DELETE FROM runs WHERE sweep_id = ?");
    runs.stmt.bind(1, sweep_id);
    runs.exec();
    Sql sweep(db_, "DELETE FROM sweeps WHERE id = ?");
    sweep.stmt.bind(1, sweep_id);
    if (sweep.exec() == 0) throw no_such_sweep(path_, sweep_id);
    transaction.commit();
    return folders;
  });
}

}  // namespace armor
