#include "armor/query/pivot_query.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {
namespace {

// A pivot cell for reading: the value itself for one run, "mean ± std (n=N)" for several.
Cell readable(const Stats& stats) {
  if (stats.count == 0) return Cell{};
  if (stats.count == 1) return Cell{stats.mean};
  return Cell{fmt::format("{:.4f} ± {:.4f} (n={})", stats.mean, stats.std, stats.count)};
}

struct FlaggedGroupLess {
  bool operator()(const std::tuple<std::string, Cell, Cell>& a, const std::tuple<std::string, Cell, Cell>& b) const {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    if (cell_less(std::get<1>(a), std::get<1>(b)) || cell_less(std::get<1>(b), std::get<1>(a)))
      return cell_less(std::get<1>(a), std::get<1>(b));
    return cell_less(std::get<2>(a), std::get<2>(b));
  }
};

std::string header_of(const Cell& value) {
  return std::holds_alternative<std::monostate>(value) ? std::string("(none)") : cell_text(value);
}

}  // namespace

ResultTable pivot_runs(const ResultsReader& store, const PivotQuery& query) {
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  require_known(store, query.rows, "--rows");
  if (!query.cols.empty()) require_known(store, query.cols, "--cols");
  for (const std::string& name : query.metrics) require_known(store, name, "--metric");
  if (query.metrics.empty()) throw UsageError("armor db pivot needs a --metric");
  if (query.metrics.size() > 1 && !query.cols.empty()) {
    throw UsageError("armor db pivot: several metrics make the columns themselves; leave out --cols (got --cols " +
                     query.cols + ")");
  }
  const std::vector<RunSummary> runs = store.find_runs(filter);
  // One pivot per metric; a column is (metric, column value).
  std::vector<Pivot> pivots;
  for (const std::string& metric : query.metrics) pivots.push_back(pivot_of(runs, query.rows, query.cols, metric));
  // Every pivot reads the same runs, so the first's rows are all rows but those without its metric.
  std::vector<Cell> row_values;
  for (const Pivot& pivot : pivots) {
    for (const Cell& row : pivot.row_values) {
      const auto same = [&](const Cell& other) { return !CellLess()(row, other) && !CellLess()(other, row); };
      if (std::none_of(row_values.begin(), row_values.end(), same)) row_values.push_back(row);
    }
  }
  std::sort(row_values.begin(), row_values.end(), CellLess());

  // The (metric, row value, column value) groups holding a flagged run.
  const MetricFlags flags(store);
  std::set<std::tuple<std::string, Cell, Cell>, FlaggedGroupLess> flagged_groups;
  for (const RunSummary& run : runs) {
    for (const std::string& metric : query.metrics) {
      if (!flags.flagged(run.run.id, metric)) continue;
      flagged_groups.insert(
          {metric, value_of(run, query.rows), query.cols.empty() ? Cell{} : value_of(run, query.cols)});
    }
  }

  ResultTable table;
  table.columns.push_back(query.cols.empty() ? query.rows : query.rows + " \\ " + query.cols);
  for (std::size_t m = 0; m < pivots.size(); ++m) {
    for (const Cell& col : pivots[m].col_values) {
      const std::string name = query.cols.empty() ? query.metrics[m] : header_of(col);
      table.columns.push_back(name);
      if (query.split_stats) {
        table.columns.push_back(name + " std");
        table.columns.push_back(name + " n");
      }
    }
  }
  for (const Cell& row : row_values) {
    std::vector<Cell> line{row};
    for (std::size_t m = 0; m < pivots.size(); ++m) {
      const Pivot& pivot = pivots[m];
      for (const Cell& col : pivot.col_values) {
        const Stats stats = pivot.stats(row, col);
        if (stats.count > 0 && flagged_groups.count({query.metrics[m], row, query.cols.empty() ? Cell{} : col}) != 0)
          table.marked.insert({table.rows.size(), line.size()});
        if (!query.split_stats) {
          line.push_back(readable(stats));
          continue;
        }
        if (stats.count > 0) {
          line.emplace_back(stats.mean);
          line.emplace_back(stats.std);
        } else {
          line.emplace_back();
          line.emplace_back();
        }
        line.emplace_back(std::int64_t{stats.count});
      }
    }
    table.rows.push_back(std::move(line));
  }
  if (!table.marked.empty()) table.legend = flag_legend();
  return table;
}

}  // namespace armor::app
