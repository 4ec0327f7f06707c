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
  // Records the epoch's metrics. Returns false when the run should stop training now (a sweep's
  // early stopping decided so); the trainer then ends fit() and the run is evaluated as it is.
  virtual bool epoch_end(int epoch, const MetricValues& values) = 0;
  // A checkpoint was written to `written` and replaces `path` (renamed over it) once this returns:
  // a sink that records runs notes what the file holds, so that a resume can check it.
  virtual void checkpoint_written(const std::string& written, const std::string& path) {
    (void)written;
    (void)path;
  }
};

}  // namespace armor
