#pragma once
// `armor db pivot`: a metric by two params, mean ± std over the runs sharing a cell.

#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct PivotQuery {
  RunFilter filter;                  // filter.sweep_id unset: the latest sweep
  std::string rows;                  // the param (or run field) whose values are the rows
  std::string cols;                  // the param whose values are the columns; "": one column per metric
  std::vector<std::string> metrics;  // one; several only without `cols`
  bool split_stats = false;          // cells as three columns (mean, std, n) rather than "m ± s (n=N)"
};

// UsageError for a name the database does not know, or several metrics with `cols`.
ResultTable pivot_runs(const ResultsReader& store, const PivotQuery& query);

}  // namespace armor::app
