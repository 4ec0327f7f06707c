#pragma once
// `armor db plot`: the charts it draws from runs.db (render_svg writes them): a metric against a
// param, a pivot as a heat map, training curves.

#include <cstdint>
#include <string>
#include <vector>

#include "armor/report/svg_plot.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

struct LinesPlotQuery {
  RunFilter filter;                // filter.sweep_id unset: the latest sweep
  std::string x;                   // the param on the x axis
  std::string metric;              // on the y axis: mean over repeats, its 95 % confidence interval as error bars
  std::vector<std::string> lines;  // one line per value of these; empty: every other param that varies
};
// UsageError for an unknown name, or when no run of the sweep has the metric.
LineChart lines_plot(const ResultsReader& store, const LinesPlotQuery& query);

struct HeatMapPlotQuery {
  RunFilter filter;  // filter.sweep_id unset: the latest sweep
  std::string rows;
  std::string cols;
  std::string metric;  // in the cells: the mean over the runs sharing one
};
HeatMap heat_map_plot(const ResultsReader& store, const HeatMapPlotQuery& query);

struct ParetoPlotQuery {
  RunFilter filter;                     // filter.sweep_id unset: the latest sweep
  std::vector<std::string> objectives;  // 2 or 3, '-' before one to minimise it (armor/query/pareto_query.h)
};
// Every finished run on the first two objectives, the front (on all of them) as a line. UsageError
// as pareto_runs.
LineChart pareto_plot(const ResultsReader& store, const ParetoPlotQuery& query);

struct CurvesPlotQuery {
  std::vector<std::int64_t> run_ids;  // one line each
  std::string curve = "train_loss";   // the epoch metric
};
// StoreError for a missing run; UsageError for a run without the curve.
LineChart curves_plot(const ResultsReader& store, const CurvesPlotQuery& query);

}  // namespace armor::app
