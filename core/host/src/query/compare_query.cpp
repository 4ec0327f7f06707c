#include "armor/query/compare_query.h"

#include <algorithm>
#include <set>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {

ResultTable compare_runs(const ResultsReader& store, const CompareQuery& query) {
  RunFilter filter;
  filter.run_ids = query.run_ids;
  std::vector<RunSummary> found = find_runs_as_they_are(store, filter);
  const auto with_id = [](std::int64_t id) { return [id](const RunSummary& run) { return run.run.id == id; }; };
  for (const std::int64_t id : query.run_ids) {
    if (std::none_of(found.begin(), found.end(), with_id(id))) {
      throw UsageError(store.path() + " has no run " + std::to_string(id));
    }
  }
  // In the order given.
  std::vector<RunSummary> runs;
  for (const std::int64_t id : query.run_ids) runs.push_back(*std::find_if(found.begin(), found.end(), with_id(id)));

  ResultTable table;
  table.columns = {"", "key"};
  for (const RunSummary& run : runs) table.columns.push_back("run " + std::to_string(run.run.id));
  std::vector<std::string> param_keys;
  std::set<std::string> metric_keys;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.params) {
      if (std::find(param_keys.begin(), param_keys.end(), entry.first) == param_keys.end()) {
        param_keys.push_back(entry.first);
      }
    }
    for (const auto& entry : run.metrics) metric_keys.insert(entry.first);
  }
  const MetricFlags flags(store, query.run_ids);
  const auto add_row = [&](const char* kind, const std::string& key, bool only_if_different) {
    std::vector<Cell> row{Cell{std::string(kind)}, Cell{key}};
    bool differs = false;
    std::vector<std::size_t> marked;
    for (const RunSummary& run : runs) {
      if (std::string(kind) == "metric" && flags.flagged(run.run.id, key)) marked.push_back(row.size());
      row.push_back(value_of(run, key));
      differs = differs || cell_less(row.back(), row[2]) || cell_less(row[2], row.back());
    }
    if (!differs && only_if_different) return;
    for (const std::size_t column : marked) table.marked.insert({table.rows.size(), column});
    table.rows.push_back(std::move(row));
  };
  add_row("run", "status", false);
  for (const std::string& key : param_keys) add_row("param", key, !query.all_params);
  for (const std::string& key : metric_keys) add_row("metric", key, false);
  if (!table.marked.empty()) table.legend = flag_legend();
  return table;
}

}  // namespace armor::app
