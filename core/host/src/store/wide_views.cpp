#include "wide_views.h"

#include <utility>

#include "sql_helpers.h"

namespace armor::store_sql {
namespace {

// A view with one column per key of its sources. A view definition cannot take bound parameters,
// so its columns are written by SQLite itself: printf's %Q quotes a key as a literal and %w as an
// identifier, from keys read out of view_columns. No text from a command line ever goes in.
struct ViewSpec {
  const char* name;
  const char* head;                                          // up to the first key column
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
      {"curves",
       "SELECT e.run_id, r.sweep_id, e.epoch",
       {{"epoch_metrics", ", max(CASE WHEN e.key = %Q THEN e.value END) AS \"%w\""}},
       " FROM epoch_metrics e JOIN runs r ON r.id = e.run_id GROUP BY e.run_id, e.epoch"},
      {"experts",
       "SELECT x.run_id, r.sweep_id, x.layer, x.expert",
       {{"expert_metrics", ", max(CASE WHEN x.key = %Q THEN x.value END) AS \"%w\""}},
       " FROM expert_metrics x JOIN runs r ON r.id = x.run_id GROUP BY x.run_id, x.layer, x.expert"},
  };
  return views;
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

}  // namespace

void recreate_views(SQLite::Database& db) {
  for (const ViewSpec& view : wide_views()) recreate_view(db, view);
}

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

}  // namespace armor::store_sql
