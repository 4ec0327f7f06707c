#pragma once
// `armor db pareto`: the runs that no other run dominates on two or three objectives, e.g. clean
// accuracy, robust accuracy and training time as a cost. An objective is a final metric, maximised,
// or with a leading '-' minimised (`-train_seconds`); `train_seconds` is the sum of a run's epoch
// `seconds` when it is not a final metric. A run dominates another when it is at least as good on
// every objective and better on one.

#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct ParetoObjective {
  std::string metric;
  bool maximise = true;
};
// "clean_acc", "-train_seconds" -> objectives; UsageError unless there are two or three.
std::vector<ParetoObjective> parse_objectives(const std::vector<std::string>& texts);
// "max clean_acc, min train_seconds"
std::string objectives_text(const std::vector<ParetoObjective>& objectives);

// Each run's value of each objective (NaN when it has none); train_seconds derived as above.
std::vector<std::vector<double>> objective_values(const ResultsReader& store, const std::vector<RunSummary>& runs,
                                                  const std::vector<ParetoObjective>& objectives);

struct ParetoQuery {
  RunFilter filter;  // filter.sweep_id unset: the latest sweep
  std::vector<ParetoObjective> objectives;
  bool all = false;  // every run, with a column saying whether it is on the front
};

// Rows: run, the swept params, the objectives (and "front" with `all`), best first on the first
// objective. UsageError for an unknown metric or when no run has every objective.
ResultTable pareto_runs(const ResultsReader& store, const ParetoQuery& query);

}  // namespace armor::app
