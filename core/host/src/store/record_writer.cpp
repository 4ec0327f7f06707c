#include "armor/store/record_writer.h"

#include <fmt/format.h>

#include "sql_helpers.h"
#include "wide_views.h"

namespace armor {

using namespace store_sql;

RecordWriter::RecordWriter(SQLite::Database& db, std::string path) : db_(db), path_(std::move(path)) {}

void RecordWriter::set_output_dir(std::int64_t run_id, const std::string& path) {
  guarded("set the output folder of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql update(db_, "UPDATE runs SET output_dir = ? WHERE id = ?");
    update.stmt.bind(1, path);
    update.stmt.bind(2, run_id);
    if (update.exec() == 0) throw no_such_run(path_, run_id);
    transaction.commit();
  });
}

void RecordWriter::record_artifact(std::int64_t run_id, const std::string& kind, const std::string& path,
                                   const std::string& sha256) {
  guarded("record artifact " + path + " of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql insert(db_, "INSERT OR REPLACE INTO artifacts (run_id, kind, path, sha256) VALUES (?, ?, ?, ?)");
    insert.stmt.bind(1, run_id);
    insert.stmt.bind(2, kind);
    insert.stmt.bind(3, path);
    insert.stmt.bind(4, sha256);
    insert.exec();
    transaction.commit();
  });
}

void RecordWriter::record_provenance(std::int64_t run_id,
                                     const std::vector<std::pair<std::string, std::string>>& values) {
  guarded("record provenance of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql insert(db_, "INSERT OR REPLACE INTO provenance (run_id, key, value) VALUES (?, ?, ?)");
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

void RecordWriter::record_epoch_metrics(std::int64_t run_id, int epoch,
                                        const std::vector<std::pair<std::string, double>>& values) {
  guarded("record epoch " + std::to_string(epoch) + " metrics of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql insert(db_, "INSERT OR REPLACE INTO epoch_metrics (run_id, epoch, key, value) VALUES (?, ?, ?, ?)");
    for (const auto& [key, value] : values) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, epoch);
      insert.stmt.bind(3, key);
      insert.stmt.bind(4, value);  // SQLite stores a NaN as NULL
      insert.exec();
    }
    add_view_columns(db_, "epoch_metrics", keys_of(values));
    transaction.commit();
  });
}

void RecordWriter::record_expert_metrics(std::int64_t run_id, const std::string& layer, int expert,
                                         const std::vector<std::pair<std::string, double>>& values) {
  guarded("record expert metrics of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql insert(db_, "INSERT OR REPLACE INTO expert_metrics (run_id, layer, expert, key, value) VALUES (?, ?, ?, ?, ?)");
    for (const auto& [key, value] : values) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, layer);
      insert.stmt.bind(3, expert);
      insert.stmt.bind(4, key);
      insert.stmt.bind(5, value);
      insert.exec();
    }
    add_view_columns(db_, "expert_metrics", keys_of(values));
    transaction.commit();
  });
}

void RecordWriter::add_metrics(std::int64_t run_id, const std::vector<std::pair<std::string, double>>& metrics) {
  guarded("add metrics to run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    Sql status(db_, "SELECT status FROM runs WHERE id = ?");
    status.stmt.bind(1, run_id);
    if (!status.step()) throw no_such_run(path_, run_id);
    const std::string current = status.stmt.getColumn(0).getString();
    if (current != "finished") {
      throw StoreError(
          fmt::format("{}: run {} is {}: metrics are added only to a finished run", path_, run_id, current));
    }
    write_metrics(db_, run_id, metrics);
    transaction.commit();
  });
}

void RecordWriter::record_image_results(std::int64_t run_id, const std::vector<ImageResult>& images) {
  guarded("record image results of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql clear(db_, "DELETE FROM image_results WHERE run_id = ?");
    clear.stmt.bind(1, run_id);
    clear.exec();
    Sql insert(db_,
               "INSERT INTO image_results (run_id, image, clean_correct, robust, broken_by) VALUES (?, ?, ?, ?, ?)");
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

void RecordWriter::record_robustness_curve(std::int64_t run_id, const RobustnessCurve& curve) {
  guarded("record the robustness curve of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql clear(db_, "DELETE FROM robustness_curves WHERE run_id = ? AND metric = ?");
    clear.stmt.bind(1, run_id);
    clear.stmt.bind(2, curve.metric);
    clear.exec();
    Sql insert(db_, "INSERT INTO robustness_curves (run_id, metric, image, min_eps, max_eps) VALUES (?, ?, ?, ?, ?)");
    for (const ImageMinEps& image : curve.images) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, curve.metric);
      insert.stmt.bind(3, image.image);
      if (image.min_eps) {
        insert.stmt.bind(4, *image.min_eps);
      } else {
        insert.stmt.bind(4);
      }
      insert.stmt.bind(5, curve.max_eps);
      insert.exec();
    }
    transaction.commit();
  });
}

void RecordWriter::record_eval_checks(std::int64_t run_id, const std::vector<EvalCheck>& checks) {
  guarded("record evaluation checks of run " + std::to_string(run_id) + " in " + path_, [&] {
    auto transaction = write_transaction(db_);
    require_run(db_, path_, run_id);
    Sql insert(db_,
               "INSERT OR REPLACE INTO eval_checks (run_id, metric, \"check\", value, flagged, detail) "
               "VALUES (?, ?, ?, ?, ?, ?)");
    for (const EvalCheck& check : checks) {
      insert.stmt.reset();
      insert.stmt.bind(1, run_id);
      insert.stmt.bind(2, check.metric);
      insert.stmt.bind(3, check.check);
      insert.stmt.bind(4, check.value);  // SQLite stores a NaN as NULL
      insert.stmt.bind(5, check.flagged ? 1 : 0);
      insert.stmt.bind(6, check.detail);
      insert.exec();
    }
    transaction.commit();
  });
}

}  // namespace armor
