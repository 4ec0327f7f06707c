#pragma once
// Charts of runs, shared by `armor db plot` (one SVG file each) and `armor report` (all of them in
// one HTML page): a metric against a param, a pivot as a heat map, and the helpers they need.

#include <string>
#include <vector>

#include "armor/query/pivot.h"
#include "armor/report/svg_plot.h"
#include "armor/store/run_store.h"

namespace armor::app {

// varying_params: armor/query/pivot.h.

bool is_numeric(const Cell& cell);
double number_of(const Cell& cell);  // a numeric cell (bool, integer, float) as a double

// `metric` (mean over repeats, the 95 % Student-t interval of the mean as error bars) against param `x`, one line per combination of
// the `lines` params' values. Runs without the metric are left out; a param that is not numeric
// becomes evenly spaced categories.
LineChart metric_vs_param_chart(const std::vector<RunSummary>& runs, const std::string& x, const std::string& metric,
                                const std::vector<std::string>& lines);

// A pivot's means as a heat map, each cell labelled with its mean (± the half-width of its 95 %
// interval and the count when repeated); several keys' values joined by ", ".
// A Pareto chart: every point (x = coordinate 0, y = coordinate 1) as a grey marker, and the points
// of `front` (indices into points) as a red line in order of x.
LineChart pareto_chart(const std::vector<std::vector<double>>& points, const std::vector<std::size_t>& front,
                       const std::string& x_name, const std::string& y_name);

std::string key_label(const CellKey& values);  // "2, 1"
HeatMap pivot_heat_map(const Pivot& pivot, const std::string& rows, const std::string& cols, std::string title);

}  // namespace armor::app
