// armor db plot lines | heatmap | curves: SVG plots of runs.db.

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/error.h"
#include "charts.h"
#include "db_subcommands.h"
#include "db_support.h"

namespace armor::app {
namespace {

void write_file(const std::string& path, const std::string& content) {
  std::ofstream file(path, std::ios::binary);
  file << content;
  if (!file) throw UsageError("cannot write plot to '" + path + "'");
  fmt::print("wrote {}\n", path);
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
  const auto store = open_reader(common.host);
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
  write_file(output.empty() ? metric + "-vs-" + x + ".svg" : output, render_svg(metric_vs_param_chart(runs, x, metric, lines)));
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
  const auto store = open_reader(common.host);
  require_known(*store, rows, "--rows");
  require_known(*store, cols, "--cols");
  require_known(*store, metric, "--metric");
  RunFilter filter = filter_of(filter_args, values);
  filter.sweep_id = sweep_or_latest(*store, values, filter_args.sweep);
  const Pivot pivot = pivot_of(store->find_runs(filter), rows, cols, metric);
  const HeatMap map = pivot_heat_map(
      pivot, rows, cols, metric + " by " + rows + " and " + cols + " (sweep " + std::to_string(*filter.sweep_id) + ")");
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
  const auto store = open_reader(common.host);
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
