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
  // A resumed run's first report: `values` are the metrics of the epoch its checkpoint was written
  // after. A kill between writing that checkpoint and epoch_end() leaves them unrecorded, so a sink
  // that records runs records them now unless it has them; one that already decided to stop at
  // that epoch says so again. Returns whether training goes on, as epoch_end() does.
  virtual bool epoch_resumed(int epoch, const MetricValues& values) { return epoch_end(epoch, values); }
  // A checkpoint was written to `written` and replaces `path` (renamed over it) once this returns:
  // a sink that records runs notes what the file holds, so that a resume can check it.
  virtual void checkpoint_written(const std::string& written, const std::string& path) {
    (void)written;
    (void)path;
  }
};

}  // namespace armor
