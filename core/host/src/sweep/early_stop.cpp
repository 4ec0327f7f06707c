#include "armor/sweep/early_stop.h"

#include <algorithm>
#include <functional>

#include <fmt/core.h>

namespace armor {

bool EarlyStop::is_rung(int epoch) const {
  for (long long rung = std::max(1, min_epochs); rung <= epoch; rung *= std::max(2, eta)) {
    if (rung == epoch) return true;
  }
  return false;
}

bool EarlyStop::promotes(double value, std::vector<double> rung_values) const {
  if (rung_values.empty()) return true;
  if (maximize) {
    std::sort(rung_values.begin(), rung_values.end(), std::greater<double>());
  } else {
    std::sort(rung_values.begin(), rung_values.end());
  }
  const std::size_t keep = std::max<std::size_t>(1, rung_values.size() / static_cast<std::size_t>(std::max(2, eta)));
  const double threshold = rung_values[keep - 1];
  return maximize ? value >= threshold : value <= threshold;
}

std::string EarlyStop::describe() const {
  return fmt::format("asha({}, {}, eta={}, min_epochs={})", metric, maximize ? "max" : "min", eta, min_epochs);
}

}  // namespace armor
