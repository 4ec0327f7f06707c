#include "armor/store/results_reader.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>

#include "armor/query/where_expression.h"
#include "armor/store/record_writer.h"
#include "sql_helpers.h"
#include "store_schema.h"
#include "where_sql.h"

namespace armor {

using namespace store_sql;

namespace {

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
  bool empty = true;             // only blanks and comments
  bool read_only = false;        // sqlite3_stmt_readonly
  int columns = 0;               // size of the result set
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

StoreSchema::Mode schema_mode(ResultsReader::Mode mode) {
  return mode == ResultsReader::Mode::query ? StoreSchema::Mode::query : StoreSchema::Mode::read_only;
}

}  // namespace

ResultsReader::ResultsReader(const std::string& path, Mode mode)
    : owned_(StoreSchema::open(path, schema_mode(mode))), db_(owned_.get()), path_(path) {}

ResultsReader::ResultsReader(SQLite::Database& db, std::string path) : db_(&db), path_(std::move(path)) {}

ResultsReader::~ResultsReader() = default;

RunRecord ResultsReader::run(std::int64_t run_id) const {
  return guarded("read run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_, std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?");
    select.stmt.bind(1, run_id);
    if (!select.step()) throw no_such_run(path_, run_id);
    return read_run(select.stmt);
  });
}

SweepRecord ResultsReader::sweep(std::int64_t sweep_id) const {
  const std::vector<SweepRecord> found = read_sweeps(sweep_id);
  if (found.empty()) throw no_such_sweep(path_, sweep_id);
  return found.front();
}

std::vector<SweepRecord> ResultsReader::sweeps() const { return read_sweeps(std::nullopt); }

std::vector<SweepRecord> ResultsReader::read_sweeps(std::optional<std::int64_t> sweep_id) const {
  return guarded("read sweeps of " + path_, [&] {
    Sql select(*db_, fmt::format("SELECT {} FROM sweeps WHERE ?1 IS NULL OR id = ?1 ORDER BY id", kSweepColumns));
    bind_optional(select.stmt, 1, sweep_id);
    std::vector<SweepRecord> found;
    while (select.step()) found.push_back(read_sweep(select.stmt));
    return found;
  });
}

std::optional<std::int64_t> ResultsReader::latest_sweep_id() const {
  return guarded("find the latest sweep in " + path_, [&] {
    Sql select(*db_, "SELECT max(id) FROM sweeps");
    select.step();
    const SQLite::Column id = select.stmt.getColumn(0);
    return id.isNull() ? std::nullopt : std::optional<std::int64_t>(id.getInt64());
  });
}

std::vector<RunRecord> ResultsReader::runs(std::optional<std::int64_t> sweep_id,
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

std::optional<std::int64_t> ResultsReader::finished_trained_run_with_hash(const std::string& config_hash) const {
  return guarded("find a finished run trained with config hash " + config_hash + " in " + path_, [&] {
    Sql select(*db_,
               "SELECT id FROM runs r WHERE config_hash = ? AND status = 'finished' AND NOT EXISTS "
               "(SELECT 1 FROM artifacts a WHERE a.run_id = r.id AND a.kind IN (?, ?)) ORDER BY id DESC LIMIT 1");
    select.stmt.bind(1, config_hash);
    select.stmt.bind(2, kEvaluatedCheckpointArtifact);
    select.stmt.bind(3, kModelFileArtifact);
    return select.step() ? std::optional<std::int64_t>(select.stmt.getColumn(0).getInt64()) : std::nullopt;
  });
}

std::vector<std::string> ResultsReader::known_names() const {
  std::vector<std::string> names = run_field_names();
  for (const char* source : {"params", "metrics"}) {
    for (std::string& key : distinct_keys(source)) names.push_back(std::move(key));
  }
  return names;
}

std::vector<std::string> ResultsReader::distinct_keys(const std::string& table) const {
  // `table` is one of the store's own names, never user text.
  return guarded("read the keys of " + table + " in " + path_, [&] {
    Sql select(*db_, "SELECT DISTINCT key FROM " + table + " ORDER BY key");
    std::vector<std::string> keys;
    while (select.step()) keys.push_back(select.stmt.getColumn(0).getString());
    return keys;
  });
}

WhereSql ResultsReader::filter_sql(const RunFilter& filter) const {
  WhereSql where;
  where.sql = "1";
  if (filter.sweep_id) {
    where.sql += " AND r.sweep_id = ?";
    where.binds.emplace_back(ParamValue{*filter.sweep_id});
  }
  if (filter.outside_sweeps) where.sql += " AND r.sweep_id IS NULL";
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

std::vector<RunSummary> ResultsReader::find_runs(const RunFilter& filter) const {
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
    Sql params(*db_, "SELECT run_id, key, value, type FROM params WHERE run_id IN (SELECT r.id FROM runs r WHERE " +
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

std::map<std::string, double> ResultsReader::metrics(std::int64_t run_id) const {
  return guarded("read metrics of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT key, value FROM metrics WHERE run_id = ?");
    select.stmt.bind(1, run_id);
    std::map<std::string, double> found;
    while (select.step()) found[select.stmt.getColumn(0).getString()] = read_metric(select.stmt.getColumn(1));
    return found;
  });
}

std::vector<std::pair<std::string, ParamValue>> ResultsReader::params(std::int64_t run_id) const {
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

std::vector<EpochMetric> ResultsReader::epoch_metrics(std::int64_t run_id) const {
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

std::vector<std::pair<std::int64_t, double>> ResultsReader::sweep_epoch_metric(std::int64_t sweep_id, int epoch,
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

std::vector<ExpertMetric> ResultsReader::expert_metrics(std::int64_t run_id) const {
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

std::vector<ArtifactRecord> ResultsReader::artifacts(std::int64_t run_id) const {
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

std::vector<std::pair<std::string, std::string>> ResultsReader::provenance(std::int64_t run_id) const {
  return guarded("read provenance of run " + std::to_string(run_id) + " from " + path_, [&] {
    require_run(*db_, path_, run_id);
    Sql select(*db_, "SELECT key, value FROM provenance WHERE run_id = ? ORDER BY key");
    select.stmt.bind(1, run_id);
    std::vector<std::pair<std::string, std::string>> found;
    while (select.step())
      found.emplace_back(select.stmt.getColumn(0).getString(), select.stmt.getColumn(1).getString());
    return found;
  });
}

std::vector<ImageResult> ResultsReader::image_results(std::int64_t run_id) const {
  return guarded("read image results of run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_,
               "SELECT image, clean_correct, robust, broken_by FROM image_results WHERE run_id = ? ORDER BY image");
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

std::vector<EvalCheck> ResultsReader::eval_checks(std::int64_t run_id) const {
  return guarded("read evaluation checks of run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_,
               "SELECT metric, \"check\", value, flagged, detail FROM eval_checks WHERE run_id = ? "
               "ORDER BY metric, \"check\"");
    select.stmt.bind(1, run_id);
    std::vector<EvalCheck> checks;
    while (select.step()) {
      EvalCheck check;
      check.metric = select.stmt.getColumn(0).getString();
      check.check = select.stmt.getColumn(1).getString();
      check.value = select.stmt.getColumn(2).isNull() ? std::nan("") : select.stmt.getColumn(2).getDouble();
      check.flagged = select.stmt.getColumn(3).getInt() != 0;
      check.detail = select.stmt.getColumn(4).getString();
      checks.push_back(std::move(check));
    }
    return checks;
  });
}

std::vector<RobustnessCurve> ResultsReader::robustness_curves(std::int64_t run_id) const {
  return guarded("read robustness curves of run " + std::to_string(run_id) + " from " + path_, [&] {
    Sql select(*db_,
               "SELECT metric, image, min_eps, max_eps FROM robustness_curves WHERE run_id = ? "
               "ORDER BY metric, image");
    select.stmt.bind(1, run_id);
    std::vector<RobustnessCurve> curves;
    while (select.step()) {
      const std::string metric = select.stmt.getColumn(0).getString();
      if (curves.empty() || curves.back().metric != metric) {
        curves.push_back({metric, select.stmt.getColumn(3).getDouble(), {}});
      }
      ImageMinEps image{select.stmt.getColumn(1).getInt64(), std::nullopt};
      if (!select.stmt.getColumn(2).isNull()) image.min_eps = select.stmt.getColumn(2).getDouble();
      curves.back().images.push_back(image);
    }
    return curves;
  });
}

std::map<std::pair<std::int64_t, std::string>, std::string> ResultsReader::flagged_metrics(
    const std::vector<std::int64_t>& run_ids) const {
  return guarded("read flagged metrics from " + path_, [&] {
    Sql select(*db_,
               "SELECT run_id, metric, \"check\", detail FROM eval_checks WHERE flagged = 1 "
               "ORDER BY run_id, metric, \"check\"");
    std::map<std::pair<std::int64_t, std::string>, std::string> flagged;
    while (select.step()) {
      const std::int64_t run_id = select.stmt.getColumn(0).getInt64();
      if (!run_ids.empty() && std::find(run_ids.begin(), run_ids.end(), run_id) == run_ids.end()) continue;
      std::string& detail = flagged[{run_id, select.stmt.getColumn(1).getString()}];
      if (!detail.empty()) detail += "; ";
      detail += select.stmt.getColumn(2).getString() + ": " + select.stmt.getColumn(3).getString();
    }
    return flagged;
  });
}

std::vector<std::pair<std::int64_t, std::string>> ResultsReader::dead_runs(std::optional<std::int64_t> sweep_id,
                                                                           const ProcessLiveness& liveness) const {
  return guarded("find dead runs in " + path_, [&] {
    Sql select(*db_,
               "SELECT id, coalesce(worker, ''), host, pid, "
               "(julianday('now') - julianday(coalesce(heartbeat_at, started_at, created_at))) * 86400.0, "
               "(julianday('now') - julianday(coalesce(started_at, heartbeat_at, created_at))) * 86400.0 "
               "FROM runs WHERE (?1 IS NULL OR sweep_id = ?1) AND status = 'running' ORDER BY id");
    bind_optional(select.stmt, 1, sweep_id);
    std::vector<std::pair<std::int64_t, std::string>> dead;  // id, why
    while (select.step()) {
      RunningProcess process;
      process.run_id = select.stmt.getColumn(0).getInt64();
      process.worker = select.stmt.getColumn(1).getString();
      process.host = select.stmt.getColumn(2).getString();
      process.pid = select.stmt.getColumn(3).getInt64();
      process.silent_seconds = select.stmt.getColumn(4).getDouble();
      process.running_seconds = select.stmt.getColumn(5).getDouble();
      if (const std::optional<std::string> why = liveness(process))
        dead.emplace_back(process.run_id, "interrupted: " + *why);
    }
    return dead;
  });
}

QueryResult ResultsReader::query(const std::string& sql) const {
  const StatementShape shape = inspect(db_->getHandle(), sql);
  if (shape.empty) throw StoreError("armor db sql got no statement: " + sql);
  // sqlite3_stmt_readonly is what keeps this read-only, even on a read-write store. It passes
  // BEGIN, ATTACH and the like, which change the connection instead of the file; those return no
  // columns, so requiring a result set refuses them too.
  if (!shape.read_only || shape.columns == 0) throw StoreError("armor db sql runs read-only statements only: " + sql);
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
