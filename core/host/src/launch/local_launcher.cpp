#include "armor/launch/local_launcher.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/run_folder.h"
#include "armor/store/run_store.h"

extern char** environ;

namespace armor {
namespace {

volatile sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

// One run in flight: its process, the read end of its output pipe, its log file.
struct Slot {
  std::int64_t run_id = 0;
  pid_t pid = 0;
  int output = -1;
  std::FILE* log = nullptr;  // opened close-on-exec, so that other runs do not inherit it
  std::string partial_line;  // for prefixing lines when several runs share the terminal
};

// The environment of a run process, built before fork(): between fork and exec only
// async-signal-safe calls are allowed (setenv is not).
std::vector<std::string> run_environment(bool live_progress) {
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "ARMOR_PROGRESS_TTY=", 19) != 0) environment.emplace_back(*entry);
  }
  if (live_progress) environment.emplace_back("ARMOR_PROGRESS_TTY=1");
  return environment;
}

std::string worker_name() { return fmt::format("{}:{}", local_host_name(), getpid()); }

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("the run process exited with code {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("the run process was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return "the run process ended abnormally";
}

// Starts `armor _exec-run` for a claimed run, its stdout and stderr into a pipe. The child dies
// with the launcher (PR_SET_PDEATHSIG), so a killed sweep never leaves runs going on unseen.
Slot spawn_run(const LaunchOptions& options, std::int64_t run_id, const std::string& log_path) {
  std::vector<std::string> args = run_process_arguments(options, run_id);
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> environment = run_environment(options.jobs == 1 && isatty(fileno(stdout)) != 0);
  std::vector<char*> envp;
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  Slot slot;
  slot.run_id = run_id;
  if (!log_path.empty()) {
    std::filesystem::create_directories(std::filesystem::path(log_path).parent_path());
    slot.log = std::fopen(log_path.c_str(), "ae");
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw RunError(std::string("cannot create a pipe: ") + std::strerror(errno));
  const pid_t parent = getpid();
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw RunError(std::string("cannot start a run process: ") + std::strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    execve(argv[0], argv.data(), envp.data());
    // Only async-signal-safe calls here: say why, through the pipe, into the run's log.
    const char* reason = strerror(errno);
    const char prefix[] = "armor: cannot execute the run process: ";
    (void)!write(STDERR_FILENO, prefix, sizeof prefix - 1);
    (void)!write(STDERR_FILENO, reason, std::strlen(reason));
    (void)!write(STDERR_FILENO, "\n", 1);
    _exit(127);
  }
  close(pipe_fds[1]);
  slot.pid = pid;
  slot.output = pipe_fds[0];
  return slot;
}

// Copies what the run printed to its log, and to the terminal (prefixed when runs share it).
// Returns false at end of output.
bool forward_output(Slot& slot, bool prefix) {
  char buffer[8192];
  const ssize_t got = read(slot.output, buffer, sizeof buffer);
  if (got < 0 && errno == EINTR) return true;
  if (got <= 0) {
    if (prefix && !slot.partial_line.empty()) fmt::print("[run {}] {}\n", slot.run_id, slot.partial_line);
    slot.partial_line.clear();
    return false;
  }
  const std::string chunk(buffer, static_cast<std::size_t>(got));
  if (slot.log != nullptr) {
    std::fwrite(chunk.data(), 1, chunk.size(), slot.log);
    std::fflush(slot.log);
  }
  if (!prefix) {
    fmt::print("{}", chunk);
  } else {
    slot.partial_line += chunk;
    std::size_t newline;
    while ((newline = slot.partial_line.find_first_of("\n\r")) != std::string::npos) {
      const std::string line = slot.partial_line.substr(0, newline);
      if (!line.empty()) fmt::print("[run {}] {}\n", slot.run_id, line);
      slot.partial_line.erase(0, newline + 1);
    }
  }
  std::fflush(stdout);
  return true;
}

}  // namespace

std::string local_host_name() {
  char buffer[256] = {0};
  return gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown";
}

std::vector<std::string> run_process_arguments(const LaunchOptions& options, std::int64_t run_id) {
  std::vector<std::string> args{options.executable, "_exec-run", "--db", options.db, "--run", std::to_string(run_id)};
  for (const auto& path : options.plugin_paths) {
    args.emplace_back("--plugin-path");
    args.push_back(path);
  }
  return args;
}

std::int64_t threads_per_job(int jobs) {
  const auto cores = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max<std::int64_t>(1, cores / std::max(1, jobs));
}

LaunchSummary work_on_sweep(RunStore& store, std::int64_t sweep_id, const LaunchOptions& options) {
  if (options.executable.empty()) throw RunError("the launcher was given no executable to run runs with");
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const std::string worker = worker_name();
  const bool prefix = options.jobs > 1;
  LaunchSummary summary;
  std::vector<Slot> slots;
  bool stop_claiming = false;
  bool forwarded_interrupt = false;
  while (true) {
    while (!stop_claiming && interrupted == 0 && static_cast<int>(slots.size()) < options.jobs) {
      const std::optional<std::int64_t> run_id = store.queue().claim_run(sweep_id, worker, options.only_run);
      if (!run_id) {
        stop_claiming = true;
        break;
      }
      const RunRecord record = store.reader().run(*run_id);
      fmt::print("\n== run {} (sweep {}, #{}{}) {}\n", record.id, sweep_id, record.index,
                 record.attempt > 1 ? fmt::format(", attempt {}", record.attempt) : "", [&] {
                   std::string text;
                   for (const auto& o : record.overrides) text += o + " ";
                   return text;
                 }());
      std::fflush(stdout);
      try {
        // Nothing is written into a folder that is not the run's own, not even its log.
        check_run_folder(record, options.db);
      } catch (const IdentityError& error) {
        store.queue().fail_run(record.id, error.what());
        ++summary.refused;
        fmt::print(stderr, "run {} refused: {}\n", record.id, error.what());
        if (options.fail_fast) stop_claiming = true;
        continue;
      }
      const std::string log = record.output_dir.empty() ? "" : record.output_dir + "/run.log";
      slots.push_back(spawn_run(options, *run_id, log));
    }
    if (slots.empty()) break;

    std::vector<pollfd> fds;
    for (const auto& slot : slots) fds.push_back({slot.output, POLLIN, 0});
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) {
      throw RunError(std::string("waiting for runs failed: ") + std::strerror(errno));
    }
    if (interrupted != 0 && !forwarded_interrupt) {
      // Ctrl-C reaches the runs through the terminal; a signal sent to the launcher alone does not.
      forwarded_interrupt = true;
      for (const auto& slot : slots) kill(slot.pid, SIGINT);
    }
    if (interrupted != 0) stop_claiming = true;
    for (std::size_t i = 0; i < slots.size();) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0 || forward_output(slots[i], prefix)) {
        ++i;
        continue;
      }
      // End of output: the run process has ended.
      Slot slot = std::move(slots[i]);
      slots.erase(slots.begin() + static_cast<std::ptrdiff_t>(i));
      fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
      close(slot.output);
      if (slot.log != nullptr) std::fclose(slot.log);
      int status = 0;
      while (waitpid(slot.pid, &status, 0) < 0 && errno == EINTR) {
      }
      RunRecord record = store.reader().run(slot.run_id);
      if (record.status == RunStatus::running || record.status == RunStatus::pending) {
        // It could not record its own end: it crashed, or was killed.
        const bool by_interrupt = WIFSIGNALED(status) && (WTERMSIG(status) == SIGINT || WTERMSIG(status) == SIGTERM);
        store.queue().fail_run(slot.run_id, describe_exit(status),
                               by_interrupt ? RunStatus::interrupted : RunStatus::failed);
        record = store.reader().run(slot.run_id);
      }
      switch (record.status) {
        case RunStatus::finished: ++summary.finished; break;
        case RunStatus::diverged:
          ++summary.diverged;
          fmt::print(stderr, "run {} diverged: {}\n", record.id, record.error);
          break;
        case RunStatus::interrupted:
          ++summary.interrupted;
          fmt::print(stderr, "run {} interrupted: {}\n", record.id, record.error);
          break;
        default:
          if (record.attempt <= options.max_retries && interrupted == 0 && store.queue().requeue_run(record.id)) {
            ++summary.retried;
            stop_claiming = false;  // the retry is pending again
            fmt::print(stderr, "run {} failed (attempt {}), retrying: {}\n", record.id, record.attempt, record.error);
            continue;
          }
          ++summary.failed;
          fmt::print(stderr, "run {} failed: {}\n", record.id, record.error);
          break;
      }
      if (options.fail_fast && record.status != RunStatus::finished) stop_claiming = true;
    }
  }
  summary.stopped = interrupted != 0 || (options.fail_fast && summary.failed + summary.diverged > 0);
  return summary;
}

}  // namespace armor
