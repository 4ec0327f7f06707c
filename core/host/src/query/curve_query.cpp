#include "armor/query/curve_query.h"

#include <algorithm>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/store/results_reader.h"

namespace armor::app {

std::vector<std::pair<double, double>> curve_accuracy(const RobustnessCurve& curve) {
  std::vector<double> broken;  // min_eps of every image broken at some eps
  for (const ImageMinEps& image : curve.images) {
    if (image.min_eps) broken.push_back(*image.min_eps);
  }
  std::sort(broken.begin(), broken.end());
  const double total = static_cast<double>(std::max<std::size_t>(1, curve.images.size()));
  std::vector<std::pair<double, double>> points;
  const auto accuracy_at = [&](double eps) {
    const auto at_most = std::upper_bound(broken.begin(), broken.end(), eps) - broken.begin();
    return (static_cast<double>(curve.images.size()) - static_cast<double>(at_most)) / total;
  };
  points.emplace_back(0.0, accuracy_at(0.0));
  for (std::size_t i = 0; i < broken.size(); ++i) {
    if (broken[i] <= 0.0 || (i > 0 && broken[i] == broken[i - 1])) continue;
    points.emplace_back(broken[i], accuracy_at(broken[i]));
  }
  if (points.back().first < curve.max_eps) points.emplace_back(curve.max_eps, accuracy_at(curve.max_eps));
  return points;
}

ResultTable curve_table(const ResultsReader& store, const CurveQuery& query) {
  ResultTable table;
  table.columns = {"run", "metric", "eps", "accuracy"};
  for (const std::int64_t run_id : query.run_ids) {
    store.run(run_id);  // StoreError naming a run the database does not have
    std::vector<std::string> metrics;
    bool found = false;
    for (const RobustnessCurve& curve : store.robustness_curves(run_id)) {
      metrics.push_back(curve.metric);
      if (!query.metric.empty() && curve.metric != query.metric) continue;
      found = true;
      for (const auto& [eps, accuracy] : curve_accuracy(curve))
        table.rows.push_back({run_id, curve.metric, eps, accuracy});
    }
    if (found) continue;
    if (metrics.empty()) {
      throw UsageError(
          fmt::format("run {} has no robustness curve: evaluate it with eval.curve = \"<metric>\" "
                      "(e.g. armor eval {} eval.curve=pgd20)",
                      run_id, run_id));
    }
    std::string names;
    for (const std::string& name : metrics) names += (names.empty() ? "" : ", ") + name;
    throw UsageError(
        fmt::format("run {} has no robustness curve of '{}' (its curves: {})", run_id, query.metric, names));
  }
  return table;
}

}  // namespace armor::app
