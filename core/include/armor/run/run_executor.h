#pragma once
// Runs one resolved experiment in this process: builds its components from the registry, trains,
// evaluates, and records everything in the store under `run_id` (which must be pending).

#include <cstdint>

#include "armor/config/params.h"

namespace armor {

struct Experiment;
class Registry;
class RunStore;

// Throws RunError / DataError / PluginError on failure; the caller records the failure.
void execute_run(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id);

// Checks run.device names a device this LibTorch can use ("cuda" without CUDA is a ConfigError).
void validate_device(const Params& run);

}  // namespace armor
