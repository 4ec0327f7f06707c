#pragma once
// `armor db compare --metric-a M --metric-b N`: two metrics of the same runs, paired run by run (RA-E
// against RA-R, clean against robust accuracy), optionally per value of a param (`--by
// trainer.beta`). Per group: the runs with both metrics, their means, the mean difference N − M
// with its 95 % Student-t interval, and the p-values of the paired t-test and of Wilcoxon's
// signed-rank test (armor/query/statistics.h).

#include <string>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct MetricsCompareQuery {
  RunFilter filter;  // filter.sweep_id unset: the latest sweep; no status: finished runs
  std::string metric_a;
  std::string metric_b;
  std::string by;  // a param or run field to group by ("" = one group)
};

// Rows: [by,] runs, mean A, mean B, difference (B − A), ci_low, ci_high, t_p, wilcoxon_p, wilcoxon;
// a difference is marked when a run's A or B metric was flagged by an attack-validity check.
// UsageError naming an unknown metric or key, or when no run has both metrics.
ResultTable compare_metrics(const ResultsReader& store, const MetricsCompareQuery& query);

}  // namespace armor::app
