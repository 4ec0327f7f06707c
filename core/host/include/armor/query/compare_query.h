#pragma once
// `armor db compare RUN RUN...`: runs side by side.

#include <cstdint>
#include <vector>

#include "armor/report/result_table.h"

namespace armor {
class ResultsReader;
class RunStore;
}  // namespace armor

namespace armor::app {

struct CompareQuery {
  std::vector<std::int64_t> run_ids;  // the columns, in this order
  bool all_params = false;            // every param, not only those that differ
};

// Rows (kind, key, one value per run): the status, the params that differ (all with all_params),
// every metric. UsageError naming a run the database does not have.
ResultTable compare_runs(const ResultsReader& store, const CompareQuery& query);

}  // namespace armor::app
