#pragma once
// `armor db pivot`: metrics by params (row keys × column keys), each cell the mean of the runs that
// share it, with its 95 % Student-t confidence interval, sd and n. A cell averages over seeds only:
// a swept param that varies inside a cell is refused, naming it and the fix.

#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct PivotQuery {
  RunFilter filter;                  // filter.sweep_id unset: the latest sweep
  std::vector<std::string> rows;     // the params (or run fields) whose values make the rows
  std::vector<std::string> cols;     // the params whose values make the columns; none: one column per metric
  std::vector<std::string> metrics;  // one or several; with `cols`, one column per (metric, column value)
  // Cells as five columns (mean, sd, n, ci_low, ci_high) rather than "m ± h (n=N)" (CSV, JSON).
  bool split_stats = false;
};

// UsageError for a name the database does not know, no metric, or a swept param other than the
// seed that varies inside a cell (naming it, its values, and --rows / --cols / --where as the fix).
ResultTable pivot_runs(const ResultsReader& store, const PivotQuery& query);

}  // namespace armor::app
