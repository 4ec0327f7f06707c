// armor db plot lines | heatmap | curves: SVG plots of runs.db.

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/error.h"
#include "db_subcommands.h"
#include "db_support.h"
#include "svg_plot.h"

namespace armor::app {
namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary);
  file << content;
  if (!file) throw UsageError("cannot write plot to '" + path + "'");
  fmt::print("wrote {}\n", path);
}

bool numeric(const Cell& cell) {
  return std::holds_alternative<std::int64_t>(cell) || std::holds_alternative<double>(cell) ||
         std::holds_alternative<bool>(cell);
}

double number(const Cell& cell) {
  if (const auto* value = std::get_if<std::int64_t>(&cell)) return static_cast<double>(*value);
  if (const auto* value = std::get_if<bool>(&cell)) return *value ? 1 : 0;
  return std::get<double>(cell);
}

// The params whose value differs between `runs` (seeds excepted: runs that differ only in their
// seed are repeats, averaged).
std::vector<std::string> varying_params(const std::vector<RunSummary>& runs, const std::string& except) {
  std::vector<std::string> keys;
  std::map<std::string, std::set<Cell, CellLess>> seen;
  for (const RunSummary& run : runs) {
    for (const auto& [key, value] : run.params) {
      if (seen[key].empty()) keys.push_back(key);
      seen[key].insert(to_cell(value));
    }
  }
  std::vector<std::string> varying;
  for (const std::string& key : keys) {
    const bool seed = key == "seed" || (key.size() > 5 && key.compare(key.size() - 5, 5, ".seed") == 0);
    if (key != except && !seed && seen[key].size() > 1) varying.push_back(key);
  }
  return varying;
}

int plot_lines(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string x;
  std::string metric;
  std::vector<std::string> lines;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("x", po::value(&x)->required(), "The param on the x axis")(
      "metric", po::value(&metric)->required(), "The metric on the y axis (mean over repeats, ± std as error bars)")(
      "lines", po::value(&lines)->composing(),
      "One line per value of these params (default: every other param that varies)")(
      "output,o", po::value(&output), "SVG file to write (default: <metric>-vs-<x>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot lines --x KEY --metric M [--lines KEY] [--sweep ID (default: latest)] [-o FILE]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const auto store = open_store(common.host);
  require_known(*store, x, "--x");
  require_known(*store, metric, "--metric");
  lines = split_list(lines);
  for (const std::string& key : lines) require_known(*store, key, "--lines");
  RunFilter filter = filter_of(filter_args, values);
  filter.sweep_id = sweep_or_latest(*store, values, filter_args.sweep);
  std::vector<RunSummary> runs;
  for (RunSummary& run : store->find_runs(filter)) {
    if (run.metrics.count(metric) != 0) runs.push_back(std::move(run));
  }
  if (runs.empty()) throw UsageError("no run of sweep " + std::to_string(*filter.sweep_id) + " has metric " + metric);
  if (lines.empty()) lines = varying_params(runs, x);

  // series label -> x value -> metric values
  std::map<std::string, std::map<Cell, std::vector<double>, CellLess>> groups;
  std::set<Cell, CellLess> xs;
  bool all_numeric = true;
  for (const RunSummary& run : runs) {
    std::vector<std::string> label;
    for (const std::string& key : lines) label.push_back(key + "=" + cell_text(value_of(run, key)));
    const Cell at = value_of(run, x);
    all_numeric = all_numeric && numeric(at);
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
    for (const auto& [at, metric_values] : points) {
      const Stats stats = stats_of(metric_values);
      const auto position = std::find_if(x_values.begin(), x_values.end(),
                                         [&](const Cell& v) { return !cell_less(v, at) && !cell_less(at, v); });
      series.x.push_back(all_numeric ? number(at) : static_cast<double>(position - x_values.begin()));
      series.y.push_back(stats.count ? stats.mean : std::nan(""));
      series.error.push_back(stats.std);
    }
    chart.series.push_back(std::move(series));
  }
  write_file(output.empty() ? metric + "-vs-" + x + ".svg" : output, render_svg(chart));
  return kExitOk;
}

int plot_heatmap(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string rows;
  std::string cols;
  std::string metric;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&rows)->required(), "Param whose values are the rows")(
      "cols", po::value(&cols)->required(), "Param whose values are the columns")(
      "metric", po::value(&metric)->required(), "The metric in the cells (mean over the runs sharing one)")(
      "output,o", po::value(&output), "SVG file to write (default: <metric>-<rows>-<cols>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot heatmap --rows KEY --cols KEY --metric M [--sweep ID (default: latest)] [-o FILE]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const auto store = open_store(common.host);
  require_known(*store, rows, "--rows");
  require_known(*store, cols, "--cols");
  require_known(*store, metric, "--metric");
  RunFilter filter = filter_of(filter_args, values);
  filter.sweep_id = sweep_or_latest(*store, values, filter_args.sweep);
  const Pivot pivot = pivot_of(store->find_runs(filter), rows, cols, metric);
  HeatMap map;
  map.title = metric + " by " + rows + " and " + cols + " (sweep " + std::to_string(*filter.sweep_id) + ")";
  map.row_label = rows;
  map.col_label = cols;
  for (const Cell& col : pivot.col_values) map.cols.push_back(cell_text(col));
  for (const Cell& row : pivot.row_values) {
    map.rows.push_back(cell_text(row));
    std::vector<double> cells;
    std::vector<std::string> labels;
    for (const Cell& col : pivot.col_values) {
      const Stats stats = pivot.stats(row, col);
      cells.push_back(stats.count ? stats.mean : std::nan(""));
      labels.push_back(stats.count == 0   ? ""
                       : stats.count == 1 ? fmt::format("{:.4g}", stats.mean)
                                          : fmt::format("{:.3g}±{:.2g} ({})", stats.mean, stats.std, stats.count));
    }
    map.values.push_back(std::move(cells));
    map.labels.push_back(std::move(labels));
  }
  write_file(output.empty() ? metric + "-" + rows + "-" + cols + ".svg" : output, render_svg(map));
  return kExitOk;
}

int plot_curves(const std::vector<std::string>& args) {
  DbArgs common;
  std::string curve;
  std::string output;
  po::options_description visible("options");
  visible.add_options()("curve", po::value(&curve)->default_value("train_loss"),
                        "The epoch metric to draw (train_loss, train_acc, balancing_loss, lr, ...)")(
      "output,o", po::value(&output), "SVG file to write (default: <curve>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot curves RUN... [--curve KEY] [-o FILE]", args, visible, common, values)) {
    return kExitOk;
  }
  if (common.positional.empty()) throw UsageError("armor db plot curves takes one or more run ids");
  const auto store = open_store(common.host);
  LineChart chart;
  chart.title = curve + " per epoch";
  chart.x_label = "epoch";
  chart.y_label = curve;
  for (const std::string& id : common.positional) {
    const std::int64_t run_id = parse_id(id, "RUN");
    const RunRecord run = store->run(run_id);
    LineSeries series;
    series.name = "run " + id + (run.overrides.empty() ? "" : ": " + join(run.overrides, " "));
    for (const EpochMetric& point : store->epoch_metrics(run_id)) {
      if (point.key != curve) continue;
      series.x.push_back(point.epoch);
      series.y.push_back(point.value);
    }
    if (series.x.empty()) throw UsageError("run " + id + " has no epoch metric '" + curve + "'");
    chart.series.push_back(std::move(series));
  }
  write_file(output.empty() ? curve + ".svg" : output, render_svg(chart));
  return kExitOk;
}

}  // namespace

int db_plot(const std::vector<std::string>& args) {
  const std::string usage =
      "armor db plot lines   --x KEY --metric M [--lines KEY]   a metric against a param, a line per other param\n"
      "armor db plot heatmap --rows KEY --cols KEY --metric M   a pivot as a heat map\n"
      "armor db plot curves  RUN... [--curve train_loss]        training curves\n"
      "Each writes an SVG file (-o FILE); --help on each for its options.";
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print("usage: {}\n", usage);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "lines") return plot_lines(rest);
  if (args[0] == "heatmap") return plot_heatmap(rest);
  if (args[0] == "curves") return plot_curves(rest);
  throw UsageError("unknown plot '" + args[0] + "' (expected lines, heatmap or curves)");
}

}  // namespace armor::app
