#pragma once
// Which metrics of which runs an attack-validity check flagged (table eval_checks), for the marks
// of `armor db list`, `compare`, `pivot` and `armor report`. A check with a metric concerns that
// metric; a model-wide one (metric "") concerns every robust metric of its run.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace armor {
class ResultsReader;
}

namespace armor::app {

// A robust accuracy: <attack>_acc, worst_case_acc, <attack>_rae_acc, ...; not clean_acc.
bool is_robust_metric(const std::string& key);

class MetricFlags {
 public:
  // The flags of `run_ids` (every run when empty).
  MetricFlags(const ResultsReader& store, const std::vector<std::int64_t>& run_ids = {});
  // The details of the flagged checks concerning (run, metric), "" when none.
  std::string detail(std::int64_t run_id, const std::string& metric) const;
  bool flagged(std::int64_t run_id, const std::string& metric) const { return !detail(run_id, metric).empty(); }
  bool empty() const { return flags_.empty(); }

 private:
  std::map<std::pair<std::int64_t, std::string>, std::string> flags_;
};

}  // namespace armor::app
