// armor db plot lines | heatmap | curves: SVG plots of runs.db, one file each.

#include <fstream>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/report/plot_query.h"
#include "armor/util/suggest.h"
#include "db/subcommands.h"
#include "db/support.h"

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
  LinesPlotQuery query;
  std::vector<std::string> lines;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("x", po::value(&query.x)->required(), "The param on the x axis")(
      "metric", po::value(&query.metric)->required(),
      "The metric on the y axis (mean over repeats, its 95 % confidence interval as error bars)")(
      "lines", po::value(&lines)->composing(),
      "One line per value of these params (default: every other param that varies)")(
      "output,o", po::value(&output), "SVG file to write (default: <metric>-vs-<x>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot lines --x KEY --metric M [--lines KEY] [--sweep ID (default: latest)] [-o FILE]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const auto store = open_reader(common.host.db);
  query.lines = split_list(lines);
  query.filter = filter_of(filter_args, values);
  const LineChart chart = lines_plot(*store, query);
  write_file(output.empty() ? query.metric + "-vs-" + query.x + ".svg" : output, render_svg(chart));
  return kExitOk;
}

int plot_heatmap(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  HeatMapPlotQuery query;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&query.rows)->required(), "Param whose values are the rows")(
      "cols", po::value(&query.cols)->required(), "Param whose values are the columns")(
      "metric", po::value(&query.metric)->required(), "The metric in the cells (mean over the runs sharing one)")(
      "output,o", po::value(&output), "SVG file to write (default: <metric>-<rows>-<cols>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot heatmap --rows KEY --cols KEY --metric M [--sweep ID (default: latest)] [-o FILE]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  const HeatMap map = heat_map_plot(*store, query);
  write_file(output.empty() ? query.metric + "-" + query.rows + "-" + query.cols + ".svg" : output, render_svg(map));
  return kExitOk;
}

int plot_curves(const std::vector<std::string>& args) {
  DbArgs common;
  CurvesPlotQuery query;
  std::string output;
  po::options_description visible("options");
  visible.add_options()("curve", po::value(&query.curve)->default_value("train_loss"),
                        "The epoch metric to draw (train_loss, train_acc, balancing_loss, lr, ...)")(
      "output,o", po::value(&output), "SVG file to write (default: <curve>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot curves RUN... [--curve KEY] [-o FILE]", args, visible, common, values)) {
    return kExitOk;
  }
  if (common.positional.empty()) throw UsageError("armor db plot curves takes one or more run ids");
  const auto store = open_reader(common.host.db);
  query.run_ids = parse_ids(common.positional, "RUN");
  write_file(output.empty() ? query.curve + ".svg" : output, render_svg(curves_plot(*store, query)));
  return kExitOk;
}

int plot_pareto(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  ParetoPlotQuery query;
  std::vector<std::string> metric_args;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("metrics", po::value(&metric_args)->required()->composing(),
                        "Two or three objectives (x, y, and a third the front also weighs), '-' before one to "
                        "minimise it: clean_acc,pgd20_acc,-train_seconds")(
      "output,o", po::value(&output), "SVG file to write (default: pareto-<x>-<y>.svg)");
  po::variables_map values;
  if (!parse_db_args("armor db plot pareto --metrics X,Y[,Z] [--sweep ID (default: latest)] [-o FILE]", args, visible,
                     common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db plot pareto", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  query.objectives = split_list(metric_args);
  const LineChart chart = pareto_plot(*store, query);
  write_file(output.empty() ? "pareto-" + chart.x_label + "-" + chart.y_label + ".svg" : output, render_svg(chart));
  return kExitOk;
}

struct PlotKind {
  const char* name;
  const char* summary;
  int (*handler)(const std::vector<std::string>& args);
};

const std::vector<PlotKind>& plot_kinds() {
  static const std::vector<PlotKind> table{
      {"lines", "--x KEY --metric M [--lines KEY]   a metric against a param, a line per other param", plot_lines},
      {"heatmap", "--rows KEY --cols KEY --metric M   a pivot as a heat map", plot_heatmap},
      {"curves", "RUN... [--curve train_loss]        training curves", plot_curves},
      {"pareto", "--metrics X,Y[,-Z]                 the runs not dominated, on X and Y", plot_pareto},
  };
  return table;
}

}  // namespace

int db_plot(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print("usage: ");
    for (const PlotKind& kind : plot_kinds()) {
      fmt::print("{}armor db plot {:<8}{}\n", &kind == &plot_kinds().front() ? "" : "       ", kind.name, kind.summary);
    }
    fmt::print("Each writes an SVG file (-o FILE); --help on each for its options.\n");
    return args.empty() ? kExitUsage : kExitOk;
  }
  std::vector<std::string> names;
  for (const PlotKind& kind : plot_kinds()) {
    if (args[0] == kind.name) return kind.handler(std::vector<std::string>(args.begin() + 1, args.end()));
    names.emplace_back(kind.name);
  }
  throw UsageError("unknown plot '" + args[0] + "' (expected lines, heatmap, curves or pareto)" +
                   did_you_mean(args[0], names));
}

}  // namespace armor::app
