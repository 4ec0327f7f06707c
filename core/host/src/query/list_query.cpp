#include "armor/query/list_query.h"

#include <algorithm>
#include <set>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {
namespace {

// Every metric key among `runs`, sorted.
std::vector<std::string> metric_keys(const std::vector<RunSummary>& runs) {
  std::set<std::string> keys;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.metrics) keys.insert(entry.first);
  }
  return {keys.begin(), keys.end()};
}

// Every param key among `runs`, in the order they first appear (config order).
std::vector<std::string> param_keys(const std::vector<RunSummary>& runs) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.params) {
      if (seen.insert(entry.first).second) keys.push_back(entry.first);
    }
  }
  return keys;
}

// With `flags`, the flagged metrics marked.
ResultTable table_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& columns,
                     const MetricFlags* flags = nullptr) {
  ResultTable table;
  table.columns = columns;
  for (const RunSummary& run : runs) {
    std::vector<Cell> row;
    for (const std::string& column : columns) {
      if (flags != nullptr && flags->flagged(run.run.id, column)) table.marked.insert({table.rows.size(), row.size()});
      row.push_back(value_of(run, column));
    }
    table.rows.push_back(std::move(row));
  }
  if (!table.marked.empty()) table.legend = flag_legend();
  return table;
}

}  // namespace

ResultTable list_runs(const ResultsReader& store, const ListQuery& query) {
  std::vector<RunSummary> runs = find_runs_as_they_are(store, query.filter);
  if (query.limit != 0 && runs.size() > query.limit) runs.resize(query.limit);
  std::vector<std::string> columns = query.columns;
  if (columns.empty()) {
    columns = {"id", "sweep", "status", "overrides"};
    for (const std::string& key : metric_keys(runs)) columns.push_back(key);
    for (const RunSummary& run : runs) {
      if (!run.run.error.empty()) {
        columns.emplace_back("error");
        break;
      }
    }
  } else {
    const std::vector<std::string> known = store.known_names();
    for (const std::string& column : columns) {
      if (column != "overrides" && std::find(known.begin(), known.end(), column) == known.end()) {
        throw UsageError("--columns: unknown column '" + column + "' (a run field, param key or metric)");
      }
    }
  }
  const MetricFlags flags(store);
  return table_of(runs, columns, &flags);
}

ResultTable export_runs(const ResultsReader& store, const RunFilter& filter) {
  const std::vector<RunSummary> runs = find_runs_as_they_are(store, filter);
  // Named as the `results` view names them (run_id, sweep_id), so that the two read alike.
  std::vector<std::string> columns{"run_id",     "sweep_id",    "idx",         "status",   "experiment",
                                   "overrides",  "config_hash", "seed",        "revision", "host",
                                   "created_at", "started_at",  "finished_at", "error",    "output_dir"};
  for (const std::string& key : param_keys(runs)) columns.push_back(key);
  for (const std::string& key : metric_keys(runs)) columns.push_back(key);
  return table_of(runs, columns);
}

}  // namespace armor::app
