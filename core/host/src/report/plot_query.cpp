#include "armor/report/plot_query.h"

#include "armor/error.h"
#include "armor/query/pareto_query.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/statistics.h"
#include "armor/report/charts.h"

namespace armor::app {

LineChart lines_plot(const ResultsReader& store, const LinesPlotQuery& query) {
  require_known(store, query.x, "--x");
  require_known(store, query.metric, "--metric");
  for (const std::string& key : query.lines) require_known(store, key, "--lines");
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  std::vector<RunSummary> runs;
  for (RunSummary& run : store.find_runs(filter)) {
    if (run.metrics.count(query.metric) != 0) runs.push_back(std::move(run));
  }
  if (runs.empty()) {
    throw UsageError("no run of sweep " + std::to_string(*filter.sweep_id) + " has metric " + query.metric);
  }
  const std::vector<std::string> lines = query.lines.empty() ? varying_params(runs, query.x) : query.lines;
  std::vector<std::string> shown = lines;
  shown.push_back(query.x);
  const std::vector<std::string> hidden = varying_within_groups(runs, shown);
  if (!hidden.empty()) {
    throw UsageError("armor db plot lines: " + join(hidden, ", ") +
                     " varies along a line, so a point would average over it and not only over seeds; add it to "
                     "--lines or fix it with --where");
  }
  return metric_vs_param_chart(runs, query.x, query.metric, lines);
}

HeatMap heat_map_plot(const ResultsReader& store, const HeatMapPlotQuery& query) {
  require_known(store, query.rows, "--rows");
  require_known(store, query.cols, "--cols");
  require_known(store, query.metric, "--metric");
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  std::vector<RunSummary> runs;
  for (RunSummary& run : store.find_runs(filter)) {
    if (run.metrics.count(query.metric) != 0) runs.push_back(std::move(run));
  }
  const std::vector<std::string> hidden = varying_within_groups(runs, {query.rows, query.cols});
  if (!hidden.empty()) {
    throw UsageError("armor db plot heatmap: " + join(hidden, ", ") +
                     " varies inside the cells, so a cell would average over it and not only over seeds; fix it "
                     "with --where (e.g. --where '" +
                     hidden.front().substr(0, hidden.front().find(' ')) + " = ...'), or use armor db pivot --rows a,b");
  }
  const Pivot pivot = pivot_of(runs, query.rows, query.cols, query.metric);
  return pivot_heat_map(
      pivot, query.rows, query.cols,
      query.metric + " by " + query.rows + " and " + query.cols + " (sweep " + std::to_string(*filter.sweep_id) + ")");
}

LineChart pareto_plot(const ResultsReader& store, const ParetoPlotQuery& query) {
  const std::vector<ParetoObjective> objectives = parse_objectives(query.objectives);
  for (const ParetoObjective& objective : objectives) {
    if (objective.metric != "train_seconds") require_known(store, objective.metric, "--metrics");
  }
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  if (filter.statuses.empty()) filter.statuses = {RunStatus::finished};
  const std::vector<RunSummary> runs = store.find_runs(filter);
  const std::vector<std::vector<double>> points = objective_values(store, runs, objectives);
  std::vector<bool> maximise;
  for (const ParetoObjective& objective : objectives) maximise.push_back(objective.maximise);
  const std::vector<std::size_t> front = pareto_front(points, maximise);
  if (front.empty()) {
    throw UsageError("armor db plot pareto: no finished run of sweep " + std::to_string(*filter.sweep_id) +
                     " has every objective (" + objectives_text(objectives) + ")");
  }
  LineChart chart = pareto_chart(points, front, objectives[0].metric, objectives[1].metric);
  chart.title = "Pareto front of " + objectives_text(objectives) + " (sweep " + std::to_string(*filter.sweep_id) + ")";
  return chart;
}

LineChart curves_plot(const ResultsReader& store, const CurvesPlotQuery& query) {
  LineChart chart;
  chart.title = query.curve + " per epoch";
  chart.x_label = "epoch";
  chart.y_label = query.curve;
  for (const std::int64_t run_id : query.run_ids) {
    const std::string id = std::to_string(run_id);
    const RunRecord run = store.run(run_id);
    LineSeries series;
    series.name = "run " + id + (run.overrides.empty() ? "" : ": " + join(run.overrides, " "));
    for (const EpochMetric& point : store.epoch_metrics(run_id)) {
      if (point.key != query.curve) continue;
      series.x.push_back(point.epoch);
      series.y.push_back(point.value);
    }
    if (series.x.empty()) throw UsageError("run " + id + " has no epoch metric '" + query.curve + "'");
    chart.series.push_back(std::move(series));
  }
  return chart;
}

}  // namespace armor::app
