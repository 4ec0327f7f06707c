#pragma once
// Planning a run or a sweep: the points of the grid (from --multirun overrides and the experiment's
// [sweep] table), each composed, interpolated and validated against the registry before anything
// is written to runs.db. Used by `armor run` and by `armor config --multirun` (the dry run).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "armor/config/experiment.h"
#include "armor/plugin/catalog.h"
#include "armor/sweep/early_stop.h"

namespace armor {

struct PlannedRun {
  std::vector<std::string> overrides;  // this point's overrides (sweep values and fixed ones)
  Experiment experiment;
};

struct DroppedPoint {
  std::vector<std::string> overrides;
  std::string reason;
};

// How a sweep is searched and pruned: from the [sweep] table, then the command line.
//   [sweep]
//   overrides  = ["model.k=1,2", "trainer.lr=loguniform(0.01,0.3)"]
//   constraint = "model.k <= model.num_experts"       (or a list)
//   sweeper    = "grid"                               (or "random": draw `trials` points)
//   trials     = 10
//   seed       = 0                                    (random search's draw)
//   early_stop = { metric = "train_acc", mode = "max", eta = 3, min_epochs = 1 }   (ASHA)
struct SweepSettings {
  std::string sweeper = "grid";
  int trials = 10;
  std::int64_t seed = 0;
  std::optional<EarlyStop> early_stop;

  // The sweep's spec as stored in runs.db (TOML): grid, sweeper, constraints, early stopping.
  std::string to_spec(const std::string& grid, const std::vector<std::string>& constraints) const;
  // The settings a run process needs back from its sweep's spec ("" or a plain-text spec: none).
  static SweepSettings from_spec(const std::string& spec);
};

// What the command line says about the sweep; unset values leave the [sweep] table's.
struct SweepCommandLine {
  std::vector<std::string> constraints;
  std::string sweeper;     // "" = as the file says
  int trials = 0;          // 0 = as the file says
  std::string early_stop;  // "", "asha" or "none"
};

struct SweepPlan {
  SweepSettings settings;
  bool is_sweep = false;                     // --multirun, or the file has a [sweep] table
  std::vector<std::string> sweep_overrides;  // the grid as given, [sweep] first, then the command line
  std::string description;                   // describe_multirun of the grid
  std::vector<PlannedRun> runs;
  std::vector<DroppedPoint> dropped;     // points that broke a sweep constraint
  std::vector<std::string> constraints;  // the user's, [sweep] first (the declared ones are implied)
};

// Sweep constraints: expressions in `armor db list --where` syntax over the point's resolved params
// (`model.k <= model.num_experts`). A point is dropped unless every constraint is true. Besides the
// user's (--constraint, [sweep] constraint), every constraint the point's plugins declare holds
// (Experiment::declared_constraints: a MoE model's "model.k <= model.num_experts"), checked first.

// ConfigError (nothing planned) on any bad point, except points dropped by a constraint: each
// section checked against its schema (and the schemas' checks where the catalog has them), and no
// two points of a grid may resolve to the same config (a random search drops the repeat). What
// spans sections and needs what the run would build (the dataset's shape, the model) is checked by
// the run side (armor/run/plan_checks.h), for the target the plan is for:
enum class PlanTarget {
  here,     // armor run: the data and the device must be there
  cluster,  // armor run --launcher slurm: the data must be readable, the device is the node's
  dry_run,  // armor config: prints configs meant for any machine
};
SweepPlan plan_runs(const std::string& experiment_path, const std::vector<std::string>& overrides, bool multirun,
                    const SweepCommandLine& command_line, const Catalog& catalog, std::int64_t default_threads);

std::string join_overrides(const std::vector<std::string>& overrides);

}  // namespace armor
