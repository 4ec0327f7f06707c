#pragma once
// armor _exec-run: one run claimed by a launcher executes in this process. The run's recorded
// config is what runs, exactly; a heartbeat thread shows the run is alive. With a shard (a Slurm
// task) everything goes into the run's shard database, which `armor sweep collect` merges into
// runs.db; runs.db is never opened.

#include <string>
#include <vector>

#include "armor/host/run_side.h"
#include "armor/plugin/registry.h"

namespace armor {

// The program's exit codes for a run (README: "Exit codes").
inline constexpr int kExitRunFailed = 1;
inline constexpr int kExitRefused = 2;

// 0 finished; 1 failed or diverged (recorded so); 2 refused: the folder or checkpoint is not the run's.
int execute_claimed_run(const ExecRunRequest& request, const Registry& registry,
                        const std::vector<std::string>& plugin_libraries);

}  // namespace armor
