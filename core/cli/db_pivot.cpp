// armor db pivot | armor db best: a metric by params.

#include <algorithm>
#include <sstream>

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

// "a,b , c" -> {"a", "b", "c"}
std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> names;
  std::stringstream list(text);
  for (std::string name; std::getline(list, name, ',');) {
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    if (!name.empty()) names.push_back(name);
  }
  return names;
}

}  // namespace

int db_pivot(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string rows;
  std::string cols;
  std::vector<std::string> metric_args;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&rows)->required(), "Param (or run field) whose values are the rows")(
      "cols", po::value(&cols), "Param whose values are the columns (none: one column per metric)")(
      "metric", po::value(&metric_args)->required()->composing(),
      "The metric in the cells: mean ± std over the runs that share one. Without --cols, several "
      "(repeated or a,b,c) give one column each");
  po::variables_map values;
  if (!parse_db_args("armor db pivot --rows KEY [--cols KEY] --metric M[,M2...] [--sweep ID (default: the latest)] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  if (!common.positional.empty()) throw UsageError("armor db pivot takes no arguments (got '" + common.positional[0] + "')");
  const auto store = open_reader(common.host);
  RunFilter filter = filter_of(filter_args, values);
  filter.sweep_id = sweep_or_latest(*store, values, filter_args.sweep);
  require_known(*store, rows, "--rows");
  if (!cols.empty()) require_known(*store, cols, "--cols");
  std::vector<std::string> metrics;
  for (const std::string& arg : metric_args) {
    for (const std::string& name : split_names(arg)) {
      require_known(*store, name, "--metric");
      metrics.push_back(name);
    }
  }
  if (metrics.size() > 1 && !cols.empty()) {
    throw UsageError("armor db pivot: several metrics make the columns themselves; leave out --cols (got --cols " + cols + ")");
  }
  const std::vector<RunSummary> runs = store->find_runs(filter);
  // One pivot per metric; a column is (metric, column value).
  std::vector<Pivot> pivots;
  for (const std::string& metric : metrics) pivots.push_back(pivot_of(runs, rows, cols, metric));
  // Every pivot reads the same runs, so the first's rows are all rows but those without its metric.
  std::vector<Cell> row_values;
  for (const Pivot& pivot : pivots) {
    for (const Cell& row : pivot.row_values) {
      const auto same = [&](const Cell& other) { return !CellLess()(row, other) && !CellLess()(other, row); };
      if (std::none_of(row_values.begin(), row_values.end(), same)) row_values.push_back(row);
    }
  }
  std::sort(row_values.begin(), row_values.end(), CellLess());

  const OutputFormat format = format_of(common);
  const bool split = format == OutputFormat::csv || format == OutputFormat::json;
  ResultTable table;
  table.columns.push_back(cols.empty() ? rows : rows + " \\ " + cols);
  for (std::size_t m = 0; m < pivots.size(); ++m) {
    for (const Cell& col : pivots[m].col_values) {
      const std::string name = cols.empty() ? metrics[m] : header_of(col);
      table.columns.push_back(name);
      if (split) {
        table.columns.push_back(name + " std");
        table.columns.push_back(name + " n");
      }
    }
  }
  for (const Cell& row : row_values) {
    std::vector<Cell> line{row};
    for (const Pivot& pivot : pivots) {
      for (const Cell& col : pivot.col_values) {
        const Stats stats = pivot.stats(row, col);
        if (!split) {
          line.push_back(readable(stats));
          continue;
        }
        if (stats.count > 0) {
          line.emplace_back(stats.mean);
          line.emplace_back(stats.std);
        } else {
          line.emplace_back();
          line.emplace_back();
        }
        line.emplace_back(std::int64_t{stats.count});
      }
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
  const auto store = open_reader(common.host);
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
