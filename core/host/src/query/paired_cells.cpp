#include "armor/query/paired_cells.h"

#include <cmath>
#include <cstdint>

#include "armor/query/statistics.h"

namespace armor::app {

std::vector<std::string> paired_columns(const std::string& count_column) {
  return {count_column, "mean A", "mean B", "difference", "ci_low", "ci_high", "t_p", "wilcoxon_p", "wilcoxon"};
}

std::vector<Cell> paired_cells(const std::vector<double>& a, const std::vector<double>& b) {
  const PairedComparison paired = paired_comparison(a, b);
  const auto number = [](double value) { return std::isfinite(value) ? Cell{value} : Cell{}; };
  return {Cell{static_cast<std::int64_t>(paired.difference.n)},
          number(summarize(a).mean),
          number(summarize(b).mean),
          number(paired.difference.mean),
          number(paired.difference.ci_low),
          number(paired.difference.ci_high),
          number(paired.t_p_value),
          number(paired.wilcoxon.p_value),
          paired.difference.n == 0 ? Cell{} : Cell{std::string(paired.wilcoxon.exact ? "exact" : "normal")}};
}

}  // namespace armor::app
