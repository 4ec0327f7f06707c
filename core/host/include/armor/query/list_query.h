#pragma once
// `armor db list` and `armor db export`: runs, one row each.

#include <cstddef>
#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct ListQuery {
  RunFilter filter;                  // which runs, in which order (order_by, descending)
  std::vector<std::string> columns;  // run fields, param keys, metrics; empty: id, sweep, status,
                                     // overrides, every metric, and error when a run has one
  std::size_t limit = 0;             // at most this many runs (0: all)
};

// The runs as they are now (dead ones shown interrupted). UsageError for a column the database
// does not know.
ResultTable list_runs(const ResultsReader& store, const ListQuery& query);

// Every run `filter` selects with every run field, param (config order) and metric (by name).
ResultTable export_runs(const ResultsReader& store, const RunFilter& filter);

}  // namespace armor::app
