#include "armor/query/pivot_query.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/report/charts.h"

namespace armor::app {
namespace {

// A pivot cell for reading: the value itself for one run, "mean ± half-width (n=N)" for several.
Cell readable(const Summary& summary) {
  if (summary.n == 0) return Cell{};
  if (summary.n == 1) return Cell{summary.mean};
  return Cell{fmt::format("{:.4f} ± {:.4f} (n={})", summary.mean, summary.ci_high - summary.mean, summary.n)};
}

Cell number_or_null(double value, bool present) { return present ? Cell{value} : Cell{}; }

using FlaggedCell = std::tuple<std::string, CellKey, CellKey>;
struct FlaggedCellLess {
  bool operator()(const FlaggedCell& a, const FlaggedCell& b) const {
    if (std::get<0>(a) != std::get<0>(b)) return std::get<0>(a) < std::get<0>(b);
    const CellKeyLess less;
    if (less(std::get<1>(a), std::get<1>(b)) || less(std::get<1>(b), std::get<1>(a)))
      return less(std::get<1>(a), std::get<1>(b));
    return less(std::get<2>(a), std::get<2>(b));
  }
};

std::string options_text(const std::string& option, const std::vector<std::string>& names) {
  return names.empty() ? "" : " " + option + " " + join(names, ",");
}

}  // namespace

ResultTable pivot_runs(const ResultsReader& store, const PivotQuery& query) {
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  if (query.rows.empty()) throw UsageError("armor db pivot needs --rows");
  for (const std::string& name : query.rows) require_known(store, name, "--rows");
  for (const std::string& name : query.cols) require_known(store, name, "--cols");
  if (query.metrics.empty()) throw UsageError("armor db pivot needs a --metric");
  for (const std::string& name : query.metrics) require_known(store, name, "--metric");
  std::vector<RunSummary> runs;
  for (RunSummary& run : store.find_runs(filter)) {
    const bool has_metric = std::any_of(query.metrics.begin(), query.metrics.end(),
                                        [&](const std::string& metric) { return run.metrics.count(metric) != 0; });
    if (has_metric) runs.push_back(std::move(run));
  }
  // A cell averages over seeds only.
  std::vector<std::string> names = query.rows;
  names.insert(names.end(), query.cols.begin(), query.cols.end());
  const std::vector<std::string> hidden = varying_within_groups(runs, names);
  if (!hidden.empty()) {
    const std::string first = hidden.front().substr(0, hidden.front().find(' '));
    std::vector<std::string> with_rows = query.rows;
    with_rows.push_back(first);
    throw UsageError(fmt::format(
        "armor db pivot:{}{}: {} {} inside the cells, so a cell would average over {} and not only over seeds. "
        "Show it (--rows {}, or add it to --cols) or fix it (--where '{} = ...')",
        options_text("--rows", query.rows), options_text("--cols", query.cols), join(hidden, ", "),
        hidden.size() == 1 ? "varies" : "vary", hidden.size() == 1 ? "it" : "them", join(with_rows, ","), first));
  }
  std::vector<Pivot> pivots;
  for (const std::string& metric : query.metrics) pivots.push_back(pivot_of(runs, query.rows, query.cols, metric));
  std::set<CellKey, CellKeyLess> row_set;
  for (const Pivot& pivot : pivots) row_set.insert(pivot.row_values.begin(), pivot.row_values.end());

  // The (metric, row, column) cells averaging over a flagged run.
  const MetricFlags flags(store);
  std::set<FlaggedCell, FlaggedCellLess> flagged_cells;
  for (const RunSummary& run : runs) {
    for (const std::string& metric : query.metrics) {
      if (run.metrics.count(metric) != 0 && flags.flagged(run.run.id, metric))
        flagged_cells.insert({metric, key_of(run, query.rows), key_of(run, query.cols)});
    }
  }

  ResultTable table;
  for (std::size_t i = 0; i + 1 < query.rows.size(); ++i) table.columns.push_back(query.rows[i]);
  table.columns.push_back(query.cols.empty() ? query.rows.back() : query.rows.back() + " \\ " + join(query.cols, ","));
  for (std::size_t m = 0; m < pivots.size(); ++m) {
    for (const CellKey& col : pivots[m].col_values) {
      const std::string name = query.cols.empty()          ? query.metrics[m]
                               : query.metrics.size() == 1 ? key_label(col)
                                                           : query.metrics[m] + " @ " + key_label(col);
      table.columns.push_back(name);
      if (query.split_stats) {
        for (const char* part : {" sd", " n", " ci_low", " ci_high"}) table.columns.push_back(name + part);
      }
    }
  }
  for (const CellKey& row : row_set) {
    std::vector<Cell> line(row.begin(), row.end());
    for (std::size_t m = 0; m < pivots.size(); ++m) {
      for (const CellKey& col : pivots[m].col_values) {
        const Summary summary = pivots[m].summary(row, col);
        if (summary.n > 0 && flagged_cells.count({query.metrics[m], row, col}) != 0)
          table.marked.insert({table.rows.size(), line.size()});
        if (!query.split_stats) {
          line.push_back(readable(summary));
          continue;
        }
        line.push_back(number_or_null(summary.mean, summary.n > 0));
        line.push_back(number_or_null(summary.sd, summary.n > 1));
        line.emplace_back(static_cast<std::int64_t>(summary.n));
        line.push_back(number_or_null(summary.ci_low, summary.n > 1));
        line.push_back(number_or_null(summary.ci_high, summary.n > 1));
      }
    }
    table.rows.push_back(std::move(line));
  }
  if (!table.marked.empty()) table.legend = flag_legend();
  table.note =
      "cells: mean over the seeds ± the half-width of its 95 % confidence interval (Student's t) and n runs; "
      "--format csv|json gives mean, sd, n, ci_low, ci_high";
  return table;
}

}  // namespace armor::app
