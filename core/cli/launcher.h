#pragma once
// The local launcher: executes the pending runs of a sweep, `jobs` at a time, each in its own
// process (`armor _exec-run`), claiming them from runs.db one at a time so that several launchers
// (`armor sweep work` in other terminals) can share a sweep safely. A run that throws, crashes or
// diverges is recorded with its reason and the others go on.

#include <cstdint>
#include <optional>
#include <string>

#include "command.h"

namespace armor {
class RunStore;
}

namespace armor::app {

// A run whose heartbeat is older than this (on another host) counts as dead.
constexpr double kStaleAfterSeconds = 60.0;

struct LaunchOptions {
  HostOptions host;
  int jobs = 1;
  int max_retries = 0;     // a failed (not diverged) run is retried this many times
  bool fail_fast = false;  // stop claiming runs after the first failure
  std::optional<std::int64_t> only_run;  // claim this run of the sweep only (armor run --resume)
};

struct LaunchSummary {
  int finished = 0;
  int failed = 0;
  int diverged = 0;
  int interrupted = 0;
  int retried = 0;
  int refused = 0;  // its folder or checkpoint was not its own (IdentityError): failed, never retried
  bool stopped = false;  // by --fail-fast or Ctrl-C: pending runs were left for `armor sweep resume`
};

LaunchSummary work_on_sweep(RunStore& store, std::int64_t sweep_id, const LaunchOptions& options);

// --jobs, --max-retries, --fail-fast; and their check (UsageError).
void add_launch_options(po::options_description& options, LaunchOptions& launch);
void check_launch_options(const LaunchOptions& launch);

// Marks the sweep finished or failed, prints its results table and summary; the exit code.
int finish_sweep_and_report(RunStore& store, std::int64_t sweep_id, const LaunchSummary& summary, const std::string& db);

// The thread count each of `jobs` concurrent runs gets when its config says threads = 0.
std::int64_t threads_per_job(int jobs);

}  // namespace armor::app
