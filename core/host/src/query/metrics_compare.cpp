#include "armor/query/metrics_compare.h"

#include <map>
#include <vector>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/paired_cells.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {
namespace {

struct Pairs {
  std::vector<double> a;
  std::vector<double> b;
  bool flagged = false;
};

}  // namespace

ResultTable compare_metrics(const ResultsReader& store, const MetricsCompareQuery& query) {
  if (query.metric_a.empty() || query.metric_b.empty())
    throw UsageError("armor db compare: give both --metric-a and --metric-b");
  if (query.metric_a == query.metric_b)
    throw UsageError("armor db compare: --metric-a and --metric-b are both '" + query.metric_a + "'");
  require_known(store, query.metric_a, "--metric-a");
  require_known(store, query.metric_b, "--metric-b");
  if (!query.by.empty()) require_known(store, query.by, "--by");
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  if (filter.statuses.empty()) filter.statuses = {RunStatus::finished};

  const MetricFlags flags(store);
  std::map<Cell, Pairs, CellLess> groups;
  std::size_t without = 0;
  for (const RunSummary& run : store.find_runs(filter)) {
    const auto a = run.metrics.find(query.metric_a);
    const auto b = run.metrics.find(query.metric_b);
    if (a == run.metrics.end() || b == run.metrics.end()) {
      ++without;
      continue;
    }
    Pairs& group = groups[query.by.empty() ? Cell{} : value_of(run, query.by)];
    group.a.push_back(a->second);
    group.b.push_back(b->second);
    group.flagged =
        group.flagged || flags.flagged(run.run.id, query.metric_a) || flags.flagged(run.run.id, query.metric_b);
  }
  if (groups.empty()) {
    throw UsageError(fmt::format("armor db compare: no run of sweep {} has both {} and {}", *filter.sweep_id,
                                 query.metric_a, query.metric_b));
  }

  ResultTable table;
  if (!query.by.empty()) table.columns.push_back(query.by);
  for (const std::string& column : paired_columns("runs")) table.columns.push_back(column);
  for (const auto& [value, group] : groups) {
    std::vector<Cell> row;
    if (!query.by.empty()) row.push_back(value);
    for (Cell& cell : paired_cells(group.a, group.b)) row.push_back(std::move(cell));
    if (group.flagged) table.marked.insert({table.rows.size(), query.by.empty() ? 3u : 4u});
    table.rows.push_back(std::move(row));
  }
  if (!table.marked.empty()) table.legend = flag_legend() + " (a run's A or B)";
  table.note = fmt::format(
      "A: {}; B: {}, of the same runs (sweep {}{}), paired run by run{}. difference = B − A, mean over runs "
      "with its 95 % confidence interval (Student's t); t_p: paired t-test; wilcoxon_p: Wilcoxon signed-rank "
      "test; both two-sided.",
      query.metric_a, query.metric_b, *filter.sweep_id, query.by.empty() ? "" : ", per " + query.by,
      without == 0 ? "" : fmt::format("; {} runs without both left out", without));
  return table;
}

}  // namespace armor::app
