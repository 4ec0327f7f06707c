#pragma once
// The checks of a plan that need what its runs would build, made before anything is recorded: the
// dataset's shape from its probe (train_limit / test_limit beyond a split, a validation split that
// leaves no training data), every attack's radius against the [0,1] image box, the model built on
// the CPU (a moe_layers name that matches nothing) and what [eval] asks of it, and the device where
// the runs execute here. Datasets are probed and models built once per distinct config.

#include "armor/plugin/registry.h"
#include "armor/sweep/sweep_plan.h"

namespace armor {

// ConfigError naming the run's key and value on the first failing check. `target`: data that
// cannot be read yet is skipped only in a dry run; run.device must be usable only for runs that
// execute here.
void check_plan(const SweepPlan& plan, const Registry& registry, PlanTarget target);

}  // namespace armor
