#pragma once
// `armor db effects`: how much each swept param, and each pair (and larger group) of them, explains
// of a metric's variance across a sweep.
//
// A full grid (every combination of the params' values holding the same number of runs, seeds as
// replicates) gets the exact fixed-effects ANOVA (armor/query/statistics.h, balanced_anova): df, sum
// of squares, mean square, F against the residual (within-cell, seeds) mean square, its p-value, and
// share = SS / total SS (η²). With one run per cell, the highest-order interaction is the residual.
// Any other sweep (random search, a grid with missing runs) gets the importance estimate instead:
// per param, the share of the variance between the groups of runs that share its value (one-way η²;
// a param with more than 10 distinct values grouped into 5 equal-count bins by rank), and per pair,
// the share of the pair's joint groups beyond both main shares (clipped at 0). It ignores that the
// params are correlated in a small sample and gives no p-values: an estimate, not a test.
// Params that vary together (zipped, or a constrained grid where a combination never ran) are one
// factor named "a + b", its levels the combinations that ran, before either method.

#include <cstddef>
#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct EffectsQuery {
  RunFilter filter;                  // filter.sweep_id unset: the latest sweep
  std::vector<std::string> metrics;  // one table section each, in one table (column "metric")
  std::vector<std::string> keys;     // the factors; empty: every swept param (varying_params), seeds left out
  std::size_t max_order = 0;         // the largest interaction; 0: all a full grid with seeds allows
};

// The effects of `metric` among `runs` over `keys` (empty: their varying params): rows source, df,
// ss, ms, f, p, share; its note says which method was used and why.
ResultTable effects_table(const std::vector<RunSummary>& runs, const std::string& metric,
                          std::vector<std::string> keys = {}, std::size_t max_order = 0);

// UsageError for an unknown name, no metric, or fewer than two runs with the metric.
ResultTable effects_of_sweep(const ResultsReader& store, const EffectsQuery& query);

}  // namespace armor::app
