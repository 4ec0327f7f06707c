#pragma once
// `armor db curve RUN...`: accuracy against eps from the robustness curves a run's evaluation stored
// (table robustness_curves, README "Robustness curves"), with no attack run again.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/store_records.h"

namespace armor {
class ResultsReader;
}

namespace armor::app {

// (eps, accuracy) where the accuracy changes: at 0, at every distinct min_eps, and at max_eps. The
// accuracy at eps is the share of images with no min_eps <= eps (a step function, exact between
// points: it is constant from one point up to, not including, the next).
std::vector<std::pair<double, double>> curve_accuracy(const RobustnessCurve& curve);

struct CurveQuery {
  std::vector<std::int64_t> run_ids;
  std::string metric;  // "" = every curve of each run
};

// Rows (run, metric, eps, accuracy). UsageError naming a run without any curve (or without `metric`'s).
ResultTable curve_table(const ResultsReader& store, const CurveQuery& query);

}  // namespace armor::app
