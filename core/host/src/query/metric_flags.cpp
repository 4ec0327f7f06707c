#include "armor/query/metric_flags.h"

#include "armor/store/results_reader.h"

namespace armor::app {

bool is_robust_metric(const std::string& key) {
  const std::string suffix = "_acc";
  if (key.size() <= suffix.size() || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  return key.find("clean") == std::string::npos;
}

MetricFlags::MetricFlags(const ResultsReader& store, const std::vector<std::int64_t>& run_ids)
    : flags_(store.flagged_metrics(run_ids)) {}

std::string MetricFlags::detail(std::int64_t run_id, const std::string& metric) const {
  if (flags_.empty() || !is_robust_metric(metric)) return "";
  std::string found;
  for (const std::string& key : {metric, std::string()}) {
    const auto it = flags_.find({run_id, key});
    if (it == flags_.end()) continue;
    found += (found.empty() ? "" : "; ") + it->second;
  }
  return found;
}

}  // namespace armor::app
