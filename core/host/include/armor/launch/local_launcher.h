#pragma once
// The local launcher: executes the pending runs of a sweep, `jobs` at a time, each in its own
// process (`<executable> _exec-run`), claiming them from runs.db one at a time so that several
// launchers (`armor sweep work` in other terminals) can share a sweep safely. A run that throws,
// crashes or diverges is recorded with its reason and the others go on.
//
// Before a run starts the launcher checks that its folder is its own (check_run_folder); whether a
// checkpoint in it is the run's own needs LibTorch and is checked by the run process itself
// (`armor _exec-run`, check_resumable_checkpoint).

#include <cstdint>
#include <string>
#include <vector>

#include "armor/launch/launch_options.h"

namespace armor {

class RunStore;

// A run whose heartbeat is older than this (on another host) counts as dead.
constexpr double kStaleAfterSeconds = 60.0;

struct LaunchSummary {
  int finished = 0;
  int failed = 0;
  int diverged = 0;
  int interrupted = 0;
  int retried = 0;
  int refused = 0;       // its folder or checkpoint was not its own (IdentityError): failed, never retried
  bool stopped = false;  // by --fail-fast or Ctrl-C: pending runs were left for `armor sweep resume`
};

// The arguments of the process that executes run `run_id`: executable, _exec-run, --db, --run and
// one --plugin-path per path.
std::vector<std::string> run_process_arguments(const LaunchOptions& options, std::int64_t run_id);

// Executes the sweep's pending runs (only `options.only_run` when set); returns when none is left,
// or after Ctrl-C / --fail-fast. Prints each run's output, prefixed by its id when jobs > 1.
LaunchSummary work_on_sweep(RunStore& store, std::int64_t sweep_id, const LaunchOptions& options);

// The thread count each of `jobs` concurrent runs gets when its config says threads = 0.
std::int64_t threads_per_job(int jobs);

// This machine's host name, as runs record it ("unknown" when it has none).
std::string local_host_name();

}  // namespace armor
