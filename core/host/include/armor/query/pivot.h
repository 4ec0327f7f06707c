#pragma once
// A metric grouped by the values of two names, ready for a pivot table, a heat map or a line plot;
// and the summary statistics of a group.

#include <map>
#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/run_store.h"

namespace armor::app {

// Mean, sample standard deviation (0 for one value) and count of the finite values.
struct Stats {
  double mean = 0;
  double std = 0;
  int count = 0;
};
Stats stats_of(const std::vector<double>& values);

// A metric's values by (row value, column value) of two names (col_name "" = a single column).
// Runs without the metric are left out.
struct Pivot {
  std::vector<Cell> row_values;  // sorted (cell_less)
  std::vector<Cell> col_values;
  std::map<Cell, std::map<Cell, std::vector<double>, CellLess>, CellLess> values;

  Stats stats(const Cell& row, const Cell& col) const;
};
Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric);

}  // namespace armor::app
