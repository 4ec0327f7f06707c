#include "armor/query/pareto_query.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/statistics.h"

namespace armor::app {
namespace {

constexpr const char* kTrainSeconds = "train_seconds";

}  // namespace

std::vector<ParetoObjective> parse_objectives(const std::vector<std::string>& texts) {
  std::vector<ParetoObjective> objectives;
  for (const std::string& text : texts) {
    ParetoObjective objective;
    objective.maximise = text.empty() || text[0] != '-';
    objective.metric = objective.maximise ? text : text.substr(1);
    if (objective.metric.empty()) throw UsageError("--metrics: an empty objective in '" + join(texts, ",") + "'");
    objectives.push_back(objective);
  }
  if (objectives.size() < 2 || objectives.size() > 3) {
    throw UsageError(fmt::format(
        "armor db pareto needs two or three objectives, e.g. --metrics clean_acc,pgd20_acc,-train_seconds (got {})",
        objectives.size()));
  }
  return objectives;
}

std::string objectives_text(const std::vector<ParetoObjective>& objectives) {
  std::vector<std::string> parts;
  for (const ParetoObjective& objective : objectives)
    parts.push_back((objective.maximise ? "max " : "min ") + objective.metric);
  return join(parts, ", ");
}

std::vector<std::vector<double>> objective_values(const ResultsReader& store, const std::vector<RunSummary>& runs,
                                                  const std::vector<ParetoObjective>& objectives) {
  std::vector<std::vector<double>> points;
  for (const RunSummary& run : runs) {
    std::vector<double> point;
    for (const ParetoObjective& objective : objectives) {
      const auto found = run.metrics.find(objective.metric);
      if (found != run.metrics.end()) {
        point.push_back(found->second);
      } else if (objective.metric == kTrainSeconds) {
        double seconds = 0;
        bool any = false;
        for (const EpochMetric& epoch : store.epoch_metrics(run.run.id)) {
          if (epoch.key != "seconds") continue;
          seconds += epoch.value;
          any = true;
        }
        point.push_back(any ? seconds : std::nan(""));
      } else {
        point.push_back(std::nan(""));
      }
    }
    points.push_back(std::move(point));
  }
  return points;
}

ResultTable pareto_runs(const ResultsReader& store, const ParetoQuery& query) {
  for (const ParetoObjective& objective : query.objectives) {
    if (objective.metric != kTrainSeconds) require_known(store, objective.metric, "--metrics");
  }
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  if (filter.statuses.empty()) filter.statuses = {RunStatus::finished};
  const std::vector<RunSummary> runs = store.find_runs(filter);
  const std::vector<std::vector<double>> points = objective_values(store, runs, query.objectives);
  std::vector<bool> maximise;
  for (const ParetoObjective& objective : query.objectives) maximise.push_back(objective.maximise);
  const std::vector<std::size_t> front = pareto_front(points, maximise);
  std::size_t complete = 0;
  for (const auto& point : points)
    complete += std::all_of(point.begin(), point.end(), [](double v) { return std::isfinite(v); }) ? 1 : 0;
  if (complete == 0) {
    throw UsageError("armor db pareto: no finished run of sweep " + std::to_string(*filter.sweep_id) +
                     " has every objective (" + objectives_text(query.objectives) + ")");
  }
  std::vector<std::size_t> shown;
  if (query.all) {
    for (std::size_t i = 0; i < runs.size(); ++i) {
      if (std::all_of(points[i].begin(), points[i].end(), [](double v) { return std::isfinite(v); }))
        shown.push_back(i);
    }
  } else {
    shown = front;
  }
  const double sign = query.objectives.front().maximise ? -1 : 1;
  std::stable_sort(shown.begin(), shown.end(),
                   [&](std::size_t a, std::size_t b) { return sign * points[a][0] < sign * points[b][0]; });
  const std::vector<std::string> swept = varying_params(runs);
  const MetricFlags flags(store);
  ResultTable table;
  table.columns = {"run"};
  table.columns.insert(table.columns.end(), swept.begin(), swept.end());
  for (const ParetoObjective& objective : query.objectives) table.columns.push_back(objective.metric);
  if (query.all) table.columns.emplace_back("front");
  for (const std::size_t i : shown) {
    std::vector<Cell> row{Cell{runs[i].run.id}};
    for (const std::string& key : swept) row.push_back(value_of(runs[i], key));
    for (std::size_t j = 0; j < query.objectives.size(); ++j) {
      if (flags.flagged(runs[i].run.id, query.objectives[j].metric))
        table.marked.insert({table.rows.size(), row.size()});
      row.emplace_back(points[i][j]);
    }
    if (query.all) row.emplace_back(std::find(front.begin(), front.end(), i) != front.end());
    table.rows.push_back(std::move(row));
  }
  if (!table.marked.empty()) table.legend = flag_legend();
  table.note = fmt::format(
      "{} of {} runs with every objective are on the Pareto front of {}: no other run is at least as good on each "
      "and better on one",
      front.size(), complete, objectives_text(query.objectives));
  return table;
}

}  // namespace armor::app
