#include "armor/launch/process_liveness.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace armor {
namespace {

// What /proc/<pid>/stat says of a process: "pid (name) state ... starttime ...", the name possibly
// holding spaces and parentheses, so the fields are counted from the last ')'.
struct ProcessStat {
  char state = '?';
  std::optional<unsigned long long> start_ticks;  // field 22: clock ticks after boot
};

std::optional<ProcessStat> read_process_stat(std::int64_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(file, line)) return std::nullopt;
  const std::size_t name_end = line.rfind(')');
  if (name_end == std::string::npos || name_end + 2 >= line.size()) return std::nullopt;
  ProcessStat stat;
  stat.state = line[name_end + 2];
  std::istringstream fields(line.substr(name_end + 2));  // from field 3, the state
  std::string field;
  for (int i = 3; i < 22 && fields >> field; ++i) {
  }
  unsigned long long ticks = 0;
  if (fields >> ticks) stat.start_ticks = ticks;
  return stat;
}

// Whether process `pid` of this host still runs.
bool process_running(std::int64_t pid, const std::optional<ProcessStat>& stat) {
  // A zombie has ended: its parent died too (a killed sweep) and it waits for an init that may never
  // reap it, so signalling it would still succeed.
  if (::kill(static_cast<pid_t>(pid), 0) == -1 && errno == ESRCH) return false;
  if (!stat) return true;  // no /proc: trust kill()
  return stat->state != 'Z' && stat->state != 'X';
}

// Seconds since the process started (its start time against /proc/uptime), or nullopt where /proc
// does not tell.
std::optional<double> process_age_seconds(const std::optional<ProcessStat>& stat) {
  std::ifstream uptime("/proc/uptime");
  double since_boot = 0;
  const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
  if (!stat || !stat->start_ticks || !(uptime >> since_boot) || ticks_per_second <= 0) return std::nullopt;
  return since_boot - static_cast<double>(*stat->start_ticks) / static_cast<double>(ticks_per_second);
}

// Whether the live process is younger than the run it should be running. The run's time comes
// from the wall clock and the process's from the boot clock, so a margin covers clock adjustments.
bool started_after_the_run(const std::optional<ProcessStat>& stat, double running_seconds) {
  const std::optional<double> age = process_age_seconds(stat);
  return age && *age + std::max(30.0, 0.01 * running_seconds) < running_seconds;
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
      const std::optional<ProcessStat> stat = read_process_stat(pid);
      if (!process_running(pid, stat)) return fmt::format("its process {} on {} is gone", pid, host);
      if (started_after_the_run(stat, process.running_seconds)) {
        return fmt::format("its process {} on {} is gone (pid {} is now a process that started after the run did)", pid,
                           host, pid);
      }
      return std::nullopt;
    }
    if (process.silent_seconds > stale_after_seconds) {
      return fmt::format("no heartbeat for {:.0f} s (limit {} s)", process.silent_seconds, stale_after_seconds);
    }
    return std::nullopt;
  };
}

}  // namespace armor
