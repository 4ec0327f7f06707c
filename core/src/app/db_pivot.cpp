// armor db pivot | armor db best: a metric by params.

#include <fmt/format.h>

#include "armor/error.h"
#include "db_subcommands.h"
#include "db_support.h"

namespace armor::app {
namespace {

// A pivot cell for reading: the value itself for one run, "mean ± std (n=N)" for several.
Cell readable(const Stats& stats) {
  if (stats.count == 0) return Cell{};
  if (stats.count == 1) return Cell{stats.mean};
  return Cell{fmt::format("{:.4f} ± {:.4f} (n={})", stats.mean, stats.std, stats.count)};
}

std::string header_of(const Cell& value) {
  return std::holds_alternative<std::monostate>(value) ? std::string("(none)") : cell_text(value);
}

}  // namespace

int db_pivot(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string rows;
  std::string cols;
  std::string metric;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&rows)->required(), "Param (or run field) whose values are the rows")(
      "cols", po::value(&cols), "Param whose values are the columns (none: one column)")(
      "metric", po::value(&metric)->required(), "The metric in the cells: mean ± std over the runs that share one");
  po::variables_map values;
  if (!parse_db_args("armor db pivot --rows KEY [--cols KEY] --metric M [--sweep ID (default: the latest)] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  if (!common.positional.empty()) throw UsageError("armor db pivot takes no arguments (got '" + common.positional[0] + "')");
  const auto store = open_store(common.host);
  RunFilter filter = filter_of(filter_args, values);
  filter.sweep_id = sweep_or_latest(*store, values, filter_args.sweep);
  require_known(*store, rows, "--rows");
  if (!cols.empty()) require_known(*store, cols, "--cols");
  require_known(*store, metric, "--metric");
  const Pivot pivot = pivot_of(store->find_runs(filter), rows, cols, metric);

  const OutputFormat format = format_of(common);
  const bool split = format == OutputFormat::csv || format == OutputFormat::json;
  ResultTable table;
  table.columns.push_back(cols.empty() ? rows : rows + " \\ " + cols);
  for (const Cell& col : pivot.col_values) {
    const std::string name = cols.empty() ? metric : header_of(col);
    table.columns.push_back(name);
    if (split) {
      table.columns.push_back(name + " std");
      table.columns.push_back(name + " n");
    }
  }
  for (const Cell& row : pivot.row_values) {
    std::vector<Cell> line{row};
    for (const Cell& col : pivot.col_values) {
      const Stats stats = pivot.stats(row, col);
      if (!split) {
        line.push_back(readable(stats));
        continue;
      }
      line.push_back(stats.count ? Cell{stats.mean} : Cell{});
      line.push_back(stats.count ? Cell{stats.std} : Cell{});
      line.push_back(Cell{std::int64_t{stats.count}});
    }
    table.rows.push_back(std::move(line));
  }
  print_table(table, format);
  return kExitOk;
}

int db_best(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string metric;
  std::string by;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("metric", po::value(&metric)->required(), "The metric to rank by")(
      "by", po::value(&by), "One best run per value of this param")("min", "Lowest is best (default: highest)");
  po::variables_map values;
  if (!parse_db_args("armor db best --metric M [--by KEY] [--min] [--sweep ID] [--where EXPR]", args, visible, common,
                     values)) {
    return kExitOk;
  }
  if (!common.positional.empty()) throw UsageError("armor db best takes no arguments (got '" + common.positional[0] + "')");
  const auto store = open_store(common.host);
  require_known(*store, metric, "--metric");
  if (!by.empty()) require_known(*store, by, "--by");
  const bool lowest = values.count("min") != 0;
  RunFilter filter = filter_of(filter_args, values);
  filter.order_by = metric;
  filter.descending = !lowest;
  // Sorted best first (ties: lowest id), so the first run seen in each group is its best.
  std::map<Cell, const RunSummary*, CellLess> best;
  const std::vector<RunSummary> runs = store->find_runs(filter);
  for (const RunSummary& run : runs) {
    const auto found = run.metrics.find(metric);
    if (found == run.metrics.end() || !std::isfinite(found->second)) continue;
    best.emplace(by.empty() ? Cell{} : value_of(run, by), &run);
  }
  ResultTable table;
  if (!by.empty()) table.columns.push_back(by);
  for (const char* column : {"run", metric.c_str(), "overrides"}) table.columns.emplace_back(column);
  for (const auto& [group, run] : best) {
    std::vector<Cell> row;
    if (!by.empty()) row.push_back(group);
    row.push_back(Cell{run->run.id});
    row.push_back(Cell{run->metrics.at(metric)});
    row.push_back(value_of(*run, "overrides"));
    table.rows.push_back(std::move(row));
  }
  print_table(table, format_of(common));
  return kExitOk;
}

}  // namespace armor::app
