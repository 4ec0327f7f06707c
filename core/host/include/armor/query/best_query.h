#pragma once
// `armor db best`: the run with the best value of a metric, overall or per value of a param.

#include <string>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct BestQuery {
  RunFilter filter;
  std::string metric;   // the metric to rank by
  std::string by;       // "": one best run; else one per value of this param
  bool lowest = false;  // lowest is best (default: highest)
};

// Columns [by,] run, <metric>, overrides; ties go to the lowest run id; runs whose metric is
// missing or not finite are left out. UsageError for a name the database does not know.
ResultTable best_runs(const ResultsReader& store, const BestQuery& query);

}  // namespace armor::app
