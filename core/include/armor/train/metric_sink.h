#pragma once
// MetricSink: where a trainer reports its per-epoch metrics (the host writes them to runs.db as
// they come, so curves survive an interrupted run).

#include <string>
#include <utility>
#include <vector>

namespace armor {

using MetricValues = std::vector<std::pair<std::string, double>>;

class MetricSink {
 public:
  virtual ~MetricSink() = default;
  virtual void epoch_end(int epoch, const MetricValues& values) = 0;
};

}  // namespace armor
