#pragma once
// Planning a run or a sweep: the points of the grid (from --multirun overrides and the experiment's
// [sweep] table), each composed, interpolated and validated against the registry before anything
// is written to runs.db. Used by `armor run` and by `armor config --multirun` (the dry run).

#include <cstdint>
#include <string>
#include <vector>

#include "armor/run/experiment.h"

namespace armor {
class Registry;
}

namespace armor::app {

struct PlannedRun {
  std::vector<std::string> overrides;  // this point's overrides (sweep values and fixed ones)
  Experiment experiment;
};

struct DroppedPoint {
  std::vector<std::string> overrides;
  std::string reason;
};

struct SweepPlan {
  bool is_sweep = false;                     // --multirun, or the file has a [sweep] table
  std::vector<std::string> sweep_overrides;  // the grid as given, [sweep] first, then the command line
  std::string description;                   // describe_multirun of the grid
  std::vector<PlannedRun> runs;
  std::vector<DroppedPoint> dropped;         // points that broke a sweep constraint
  std::vector<std::string> constraints;      // the user's, [sweep] first (the default is implied)
};

// Sweep constraints: expressions in `armor db list --where` syntax over the point's resolved params
// (`model.k <= model.num_experts`). A point is dropped unless every constraint is true. Besides the
// user's (--constraint, [sweep] constraint), k <= num_experts holds by default wherever a model has both.
inline constexpr const char* kDefaultMoeConstraint = "model.k <= model.num_experts";

// ConfigError (nothing planned) on any bad point, except points dropped by a constraint.
SweepPlan plan_runs(const std::string& experiment_path, const std::vector<std::string>& overrides, bool multirun,
                    const std::vector<std::string>& constraints, const Registry& registry,
                    std::int64_t default_threads);

std::string join_overrides(const std::vector<std::string>& overrides);

}  // namespace armor::app
