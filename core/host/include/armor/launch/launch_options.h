#pragma once
// What a launcher (local or Slurm) is given: plain values, no command-line type.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace armor {

struct LaunchOptions {
  std::string db = "runs.db";             // the results database the runs are recorded in
  std::vector<std::string> plugin_paths;  // passed on to each run process as --plugin-path
  std::string executable;                 // the armor program that executes a run (`_exec-run`)
  int jobs = 1;
  int max_retries = 0;                   // a failed (not diverged) run is retried this many times
  bool fail_fast = false;                // stop claiming runs after the first failure
  std::optional<std::int64_t> only_run;  // claim this run of the sweep only (armor run --resume)
};

}  // namespace armor
