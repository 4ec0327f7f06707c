#pragma once
// The launcher's answer to "is the process of this running run still there?", which the store asks
// its caller (armor/store/store_records.h, ProcessLiveness) instead of the operating system.
//   - a run given to a Slurm task (worker "slurm:...") is alive: `armor sweep collect` asks Slurm;
//   - on this host, the process table decides: the run's process (else the worker's, "host:pid") is
//     gone when it no longer exists or is a zombie; a live one (even stopped, Ctrl-Z) that missed
//     heartbeats is not dead, and re-running its run would execute it twice. A process with that
//     pid that started after the run did is another one: the machine restarted, or runs.db came
//     from another machine of the same host name, and the pid was given out again;
//   - elsewhere, a run is gone once it has sent no heartbeat for `stale_after_seconds`.

#include <string>

#include "armor/store/store_records.h"

namespace armor {

ProcessLiveness local_process_liveness(std::string this_host, double stale_after_seconds);

}  // namespace armor
