#pragma once
// `armor db compare --a EXPR --b EXPR` (or `--sweep-a S|none --sweep-b T|none`): two settings compared on runs
// paired by seed and data. Each run of A is paired with the run of B that has the same value of every
// param but those that tell A from B (the params whose values in A and in B have none in common), so
// with the same seed, data and other swept settings. Per metric: the pairs, the mean difference B − A
// with its 95 % Student-t interval, and the p-values of the paired t-test and of Wilcoxon's
// signed-rank test (armor/query/statistics.h).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct SettingsCompareQuery {
  RunFilter filter;  // applies to both sides; filter.sweep_id unset: the latest sweep (unless sweep_a/sweep_b)
  std::string a;     // a --where expression selecting side A ("" = every run of its sweep)
  std::string b;
  std::optional<std::int64_t> sweep_a;  // two sweeps rather than one
  std::optional<std::int64_t> sweep_b;
  // A side drawn from the runs of no sweep (single runs, `armor eval --new-run`'s) rather than a
  // sweep's, e.g. a sweep's runs against the same settings re-evaluated from other runs' checkpoints.
  bool outside_sweeps_a = false;
  bool outside_sweeps_b = false;
  std::vector<std::string> metrics;  // one row each
};

// Rows: metric, pairs, mean A, mean B, difference (B − A), ci_low, ci_high, t_p, wilcoxon_p, wilcoxon
// (exact or normal). The note names the pairing keys and the runs left without a partner. UsageError
// when a side has no run, when nothing tells A from B, when a run has several partners (naming them
// and what they share), or when no run pairs (naming the params that differ).
ResultTable compare_settings(const ResultsReader& store, const SettingsCompareQuery& query);

}  // namespace armor::app
