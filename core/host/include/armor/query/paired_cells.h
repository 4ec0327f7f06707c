#pragma once
// One row of a paired comparison, as `armor db compare` prints it both for two settings (--a/--b,
// pairs of runs) and for two metrics of the same runs (--metric-a/--metric-b): the count, mean A,
// mean B, difference B − A with its 95 % Student-t interval, the paired t-test's and Wilcoxon's
// p-values and which Wilcoxon distribution was used (armor/query/statistics.h). Non-finite values
// print as NULL.

#include <string>
#include <vector>

#include "armor/report/result_table.h"

namespace armor::app {

// The row's columns, the first named `count_column` ("pairs", "runs").
std::vector<std::string> paired_columns(const std::string& count_column);

// The cells under paired_columns() for the paired values a[i], b[i].
std::vector<Cell> paired_cells(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace armor::app
