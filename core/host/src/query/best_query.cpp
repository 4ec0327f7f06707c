#include "armor/query/best_query.h"

#include <cmath>
#include <map>

#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {

ResultTable best_runs(const ResultsReader& store, const BestQuery& query) {
  require_known(store, query.metric, "--metric");
  if (!query.by.empty()) require_known(store, query.by, "--by");
  RunFilter filter = query.filter;
  filter.order_by = query.metric;
  filter.descending = !query.lowest;
  // Sorted best first (ties: lowest id), so the first run seen in each group is its best.
  std::map<Cell, const RunSummary*, CellLess> best;
  const std::vector<RunSummary> runs = store.find_runs(filter);
  for (const RunSummary& run : runs) {
    const auto found = run.metrics.find(query.metric);
    if (found == run.metrics.end() || !std::isfinite(found->second)) continue;
    best.emplace(query.by.empty() ? Cell{} : value_of(run, query.by), &run);
  }
  ResultTable table;
  if (!query.by.empty()) table.columns.push_back(query.by);
  for (const char* column : {"run", query.metric.c_str(), "overrides"}) table.columns.emplace_back(column);
  for (const auto& [group, run] : best) {
    std::vector<Cell> row;
    if (!query.by.empty()) row.push_back(group);
    row.emplace_back(run->run.id);
    row.emplace_back(run->metrics.at(query.metric));
    row.push_back(value_of(*run, "overrides"));
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace armor::app
