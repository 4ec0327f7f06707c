#include "armor/store/store_records.h"

#include "armor/error.h"

namespace armor {

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::pending: return "pending";
    case RunStatus::running: return "running";
    case RunStatus::finished: return "finished";
    case RunStatus::failed: return "failed";
    case RunStatus::diverged: return "diverged";
    case RunStatus::interrupted: return "interrupted";
  }
  return "invalid";  // only reachable through a cast of an out-of-range integer
}

RunStatus run_status_from_string(const std::string& text) {
  for (const RunStatus status : {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed,
                                 RunStatus::diverged, RunStatus::interrupted}) {
    if (text == to_string(status)) return status;
  }
  throw StoreError("unknown run status '" + text +
                   "' (expected pending, running, finished, failed, diverged or interrupted)");
}

}  // namespace armor
