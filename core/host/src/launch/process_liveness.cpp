#include "armor/launch/process_liveness.h"

#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace armor {
namespace {

// Whether process `pid` of this host still runs.
bool process_running(std::int64_t pid) {
  // A zombie has ended: its parent died too (a killed sweep) and it waits for an init that may never
  // reap it, so signalling it would still succeed.
  if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;    // no /proc: trust kill()
  const std::size_t name_end = line.rfind(')');  // "pid (name) state ..."; the name may hold spaces
  if (name_end == std::string::npos || name_end + 2 >= line.size()) return true;
  const char state = line[name_end + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace

ProcessLiveness local_process_liveness(std::string this_host, double stale_after_seconds) {
  return [this_host = std::move(this_host),
          stale_after_seconds](const RunningProcess& process) -> std::optional<std::string> {
    if (process.worker.rfind("slurm:", 0) == 0) return std::nullopt;
    // The process to look for: the run's own once it started, else the worker that claimed it.
    // Its host: the worker's ("host:pid"), else the host that recorded the run.
    const std::size_t colon = process.worker.rfind(':');
    const std::string host = colon == std::string::npos ? process.host : process.worker.substr(0, colon);
    std::int64_t pid = process.pid;
    if (pid <= 0 && colon != std::string::npos) pid = std::strtoll(process.worker.c_str() + colon + 1, nullptr, 10);
    if (host == this_host && pid > 0) {
      if (process_running(pid)) return std::nullopt;
      return fmt::format("its process {} on {} is gone", pid, host);
    }
    if (process.silent_seconds > stale_after_seconds) {
      return fmt::format("no heartbeat for {:.0f} s (limit {} s)", process.silent_seconds, stale_after_seconds);
    }
    return std::nullopt;
  };
}

}  // namespace armor
