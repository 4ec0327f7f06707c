#include "armor/report/charts.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/query/run_values.h"

namespace armor::app {

bool is_numeric(const Cell& cell) {
  return std::holds_alternative<std::int64_t>(cell) || std::holds_alternative<double>(cell) ||
         std::holds_alternative<bool>(cell);
}

double number_of(const Cell& cell) {
  if (const auto* value = std::get_if<std::int64_t>(&cell)) return static_cast<double>(*value);
  if (const auto* value = std::get_if<bool>(&cell)) return *value ? 1 : 0;
  return std::get<double>(cell);
}

LineChart metric_vs_param_chart(const std::vector<RunSummary>& runs, const std::string& x, const std::string& metric,
                                const std::vector<std::string>& lines) {
  // series label -> x value -> metric values
  std::map<std::string, std::map<Cell, std::vector<double>, CellLess>> groups;
  std::set<Cell, CellLess> xs;
  bool all_numeric = true;
  for (const RunSummary& run : runs) {
    if (run.metrics.count(metric) == 0) continue;
    std::vector<std::string> label;
    for (const std::string& key : lines) label.push_back(key + "=" + cell_text(value_of(run, key)));
    const Cell at = value_of(run, x);
    all_numeric = all_numeric && is_numeric(at);
    xs.insert(at);
    groups[label.empty() ? metric : join(label, ", ")][at].push_back(run.metrics.at(metric));
  }
  LineChart chart;
  chart.title = metric + " vs " + x;
  chart.x_label = x;
  chart.y_label = metric;
  const std::vector<Cell> x_values(xs.begin(), xs.end());
  if (!all_numeric) {
    for (const Cell& value : x_values) chart.x_categories.push_back(cell_text(value));
  }
  for (const auto& [label, points] : groups) {
    LineSeries series;
    series.name = label;
    for (const auto& [point_at, metric_values] : points) {
      const Cell& at = point_at;  // a lambda may not capture a structured binding before C++20
      const Summary summary = summarize(metric_values);
      const auto position = std::find_if(x_values.begin(), x_values.end(),
                                         [&](const Cell& v) { return !cell_less(v, at) && !cell_less(at, v); });
      series.x.push_back(all_numeric ? number_of(at) : static_cast<double>(position - x_values.begin()));
      series.y.push_back(summary.n ? summary.mean : std::nan(""));
      series.error.push_back(summary.n > 1 ? summary.ci_high - summary.mean : 0);
    }
    chart.series.push_back(std::move(series));
  }
  return chart;
}

std::string key_label(const CellKey& values) {
  std::vector<std::string> texts;
  for (const Cell& value : values) texts.push_back(cell_text(value));
  return join(texts, ", ");
}

HeatMap pivot_heat_map(const Pivot& pivot, const std::string& rows, const std::string& cols, std::string title) {
  HeatMap map;
  map.title = std::move(title);
  map.row_label = rows;
  map.col_label = cols;
  for (const CellKey& col : pivot.col_values) map.cols.push_back(key_label(col));
  for (const CellKey& row : pivot.row_values) {
    map.rows.push_back(key_label(row));
    std::vector<double> cells;
    std::vector<std::string> labels;
    for (const CellKey& col : pivot.col_values) {
      const Summary summary = pivot.summary(row, col);
      cells.push_back(summary.n ? summary.mean : std::nan(""));
      labels.push_back(summary.n == 0   ? ""
                       : summary.n == 1 ? fmt::format("{:.4g}", summary.mean)
                                        : fmt::format("{:.3g}±{:.2g} ({})", summary.mean,
                                                      summary.ci_high - summary.mean, summary.n));
    }
    map.values.push_back(std::move(cells));
    map.labels.push_back(std::move(labels));
  }
  return map;
}

LineChart pareto_chart(const std::vector<std::vector<double>>& points, const std::vector<std::size_t>& front,
                       const std::string& x_name, const std::string& y_name) {
  LineChart chart;
  chart.title = "Pareto front of " + x_name + " and " + y_name;
  chart.x_label = x_name;
  chart.y_label = y_name;
  LineSeries all;
  all.name = "run";
  all.markers_only = true;
  all.colour = "#9aa7b8";
  for (const auto& point : points) {
    if (point.size() < 2) continue;
    all.x.push_back(point[0]);
    all.y.push_back(point[1]);
  }
  LineSeries line;
  line.name = "not dominated (" + std::to_string(front.size()) + " runs)";
  line.colour = "#e15759";
  std::vector<std::size_t> by_x = front;
  std::sort(by_x.begin(), by_x.end(), [&](std::size_t a, std::size_t b) { return points[a][0] < points[b][0]; });
  for (const std::size_t i : by_x) {
    line.x.push_back(points[i][0]);
    line.y.push_back(points[i][1]);
  }
  chart.series = {all, line};
  return chart;
}

}  // namespace armor::app
