#pragma once
// Runs one resolved experiment in this process: builds its components from the registry, trains,
// evaluates, and records everything in the store under `run_id` (which must be pending).

#include <cstdint>
#include <string>
#include <vector>

#include "armor/config/params.h"

namespace armor {

struct Experiment;
class Registry;
class RunStore;

// Where a run executes: recorded as its provenance, and where its files go.
struct RunEnvironment {
  std::string output_dir;                     // the checkpoint goes here ("" = no checkpoint)
  std::string revision;                       // source revision ("-dirty" suffix when the tree was)
  std::vector<std::string> plugin_libraries;  // every plugin library loaded
};

// Throws RunError / DataError / PluginError on failure; the caller records the failure.
void execute_run(const Experiment& experiment, const Registry& registry, RunStore& store, std::int64_t run_id,
                 const RunEnvironment& environment = {});

// Checks run.device names a device this LibTorch can use ("cuda" without CUDA is a ConfigError).
void validate_device(const Params& run);

}  // namespace armor
