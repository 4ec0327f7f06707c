#include "armor/query/pivot.h"

#include <cmath>
#include <set>

#include "armor/query/run_values.h"

namespace armor::app {

Stats stats_of(const std::vector<double>& values) {
  Stats stats;
  double sum = 0;
  for (const double value : values) {
    if (!std::isfinite(value)) continue;
    sum += value;
    ++stats.count;
  }
  if (stats.count == 0) return stats;
  stats.mean = sum / stats.count;
  if (stats.count > 1) {
    double squares = 0;
    for (const double value : values) {
      if (std::isfinite(value)) squares += (value - stats.mean) * (value - stats.mean);
    }
    stats.std = std::sqrt(squares / (stats.count - 1));
  }
  return stats;
}

Stats Pivot::stats(const Cell& row, const Cell& col) const {
  const auto found_row = values.find(row);
  if (found_row == values.end()) return Stats{};
  const auto found = found_row->second.find(col);
  return found == found_row->second.end() ? Stats{} : stats_of(found->second);
}

Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric) {
  Pivot pivot;
  std::set<Cell, CellLess> rows;
  std::set<Cell, CellLess> cols;
  for (const RunSummary& run : runs) {
    const auto found = run.metrics.find(metric);
    if (found == run.metrics.end()) continue;
    const Cell row = value_of(run, row_name);
    const Cell col = col_name.empty() ? Cell{} : value_of(run, col_name);
    rows.insert(row);
    cols.insert(col);
    pivot.values[row][col].push_back(found->second);
  }
  pivot.row_values.assign(rows.begin(), rows.end());
  pivot.col_values.assign(cols.begin(), cols.end());
  return pivot;
}

}  // namespace armor::app
