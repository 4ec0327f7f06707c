#include "armor/launch/slurm_launcher.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/local_launcher.h"
#include "armor/launch/process_liveness.h"
#include "armor/store/run_store.h"

namespace armor {
namespace {

namespace fs = std::filesystem;

constexpr const char* kWorkerPrefix = "slurm:";
constexpr const char* kSubmitting = "slurm:submitting";

// ---- running Slurm's commands ------------------------------------------------------------------

struct ProgramResult {
  int exit_code = -1;  // -1: could not start it
  std::string output;  // stdout and stderr together
};

// Runs `args` (no shell: nothing is ever quoted or split), its output captured.
ProgramResult run_program(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) throw RunError(std::string("cannot create a pipe: ") + std::strerror(errno));
  std::vector<std::string> owned = args;
  std::vector<char*> argv;
  for (auto& arg : owned) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) throw RunError(std::string("cannot start ") + args[0] + ": " + std::strerror(errno));
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  ProgramResult result;
  char buffer[4096];
  ssize_t got;
  while ((got = read(pipe_fds[0], buffer, sizeof buffer)) != 0) {
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) break;
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.exit_code == 127 && result.output.empty()) result.exit_code = -1;  // not found
  return result;
}

std::string trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) text.pop_back();
  std::size_t start = 0;
  while (start < text.size() && std::isspace(static_cast<unsigned char>(text[start])) != 0) ++start;
  return text.substr(start);
}

// Quotes `text` for the task script (bash): single quotes, with ' written as '\''.
std::string shell_quoted(const std::string& text) {
  std::string quoted = "'";
  for (const char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// ---- task states -------------------------------------------------------------------------------

bool is_active_state(const std::string& state) {
  static const std::set<std::string> kEnded{"COMPLETED", "FAILED",    "TIMEOUT",  "CANCELLED",     "PREEMPTED",
                                            "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED"};
  return !state.empty() && kEnded.count(state) == 0;
}

// How a run whose task ended in `state` without recording its end is marked: a task that was
// stopped from outside (time limit, preemption, scancel, a node failure) was interrupted; one
// that failed by itself failed.
RunStatus status_for_lost_run(const std::string& state) {
  if (state == "FAILED" || state == "OUT_OF_MEMORY" || state == "COMPLETED") return RunStatus::failed;
  return RunStatus::interrupted;
}

std::string describe_state(const std::string& state) {
  if (state == "TIMEOUT") return "reached its time limit (TIMEOUT)";
  if (state == "PREEMPTED") return "was preempted (PREEMPTED)";
  if (state == "CANCELLED") return "was cancelled (CANCELLED)";
  if (state == "NODE_FAIL") return "lost its node (NODE_FAIL)";
  if (state == "OUT_OF_MEMORY") return "ran out of memory (OUT_OF_MEMORY)";
  if (state.empty()) return "left the Slurm queue";
  return "ended " + state;
}

struct TaskStates {
  bool asked = false;                        // squeue answered
  std::map<std::string, std::string> state;  // "<job>_<task>" -> state
};

// The state of every task of `jobs`: squeue first (it shows ended tasks for MinJobAge), then sacct
// for tasks squeue no longer knows (when the cluster keeps accounting).
TaskStates task_states(const std::set<std::string>& jobs) {
  TaskStates states;
  if (jobs.empty()) return states;
  std::string job_list;
  for (const auto& job : jobs) job_list += (job_list.empty() ? "" : ",") + job;
  const ProgramResult queue = run_program({"squeue", "-h", "-r", "-t", "all", "-j", job_list, "-o", "%i %T"});
  // squeue fails for a job id it has forgotten, listing nothing: then it is known only to sacct.
  states.asked = queue.exit_code == 0 || queue.output.find("Invalid job id") != std::string::npos;
  if (!states.asked) {
    fmt::print(stderr, "armor: cannot ask Slurm how its tasks are (squeue: {}); their runs stay as they are\n",
               queue.exit_code < 0 ? std::string("not found") : trimmed(queue.output));
  }
  std::istringstream lines(queue.exit_code == 0 ? queue.output : "");
  std::string task, state;
  while (lines >> task >> state) states.state[task] = state;
  const ProgramResult accounting = run_program({"sacct", "-n", "-P", "-X", "-j", job_list, "-o", "JobID,State"});
  if (accounting.exit_code == 0) {
    std::istringstream rows(accounting.output);
    std::string row;
    while (std::getline(rows, row)) {
      const std::size_t bar = row.find('|');
      if (bar == std::string::npos) continue;
      const std::string id = row.substr(0, bar);
      std::string value = row.substr(bar + 1);
      value = value.substr(0, value.find(' '));  // "CANCELLED by 0"
      if (!states.state.count(id)) states.state[id] = value;
    }
  }
  return states;
}

// ---- files of a submission ---------------------------------------------------------------------

std::string shard_of(const RunRecord& run) { return run.output_dir + "/shard.db"; }
std::string collected_shard_of(const RunRecord& run) { return run.output_dir + "/shard-collected.db"; }

// The sweep's Slurm folder, next to its run folders (<outputs>/<sweep>/slurm).
fs::path slurm_folder(const std::vector<RunRecord>& runs) {
  return fs::path(runs.front().output_dir).parent_path() / "slurm";
}

}  // namespace

// ---- submitting --------------------------------------------------------------------------------

std::string slurm_task_script(const std::string& tasks_file, int runs_per_task, const std::string& executable,
                              const std::vector<std::string>& plugin_paths) {
  std::string plugin_options;
  for (const auto& path : plugin_paths) plugin_options += " --plugin-path " + shell_quoted(path);
  return fmt::format(
      "#!/bin/bash\n"
      "# Written by armor (--launcher slurm). Task i of the array executes runs i*{1}+1 .. i*{1}+{1}\n"
      "# of the tasks file, each into its own shard database; `armor sweep collect` merges them.\n"
      "set -u\n"
      "first=$(( SLURM_ARRAY_TASK_ID * {1} + 1 ))\n"
      "status=0\n"
      "while IFS=$'\\t' read -r run shard log; do\n"
      "  echo \"== run $run in Slurm task ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname)\" "
      ">>\"$log\"\n"
      "  {2} _exec-run --shard \"$shard\" --run \"$run\"{3} >>\"$log\" 2>&1 || status=1\n"
      "done < <(sed -n \"${{first}},$(( first + {1} - 1 ))p\" {0})\n"
      "exit $status\n",
      shell_quoted(tasks_file), runs_per_task, shell_quoted(executable), plugin_options);
}

std::vector<std::string> sbatch_arguments(const SlurmOptions& slurm, std::int64_t sweep_id, int tasks,
                                          const std::string& folder, const std::string& script) {
  std::vector<std::string> args{
      "sbatch", "--parsable", fmt::format("--job-name=armor-sweep-{}", sweep_id),
      "--output=" + (fs::path(folder) / "%A_%a.out").string(),
      fmt::format("--array=0-{}{}", tasks - 1, slurm.max_parallel > 0 ? fmt::format("%{}", slurm.max_parallel) : "")};
  if (!slurm.partition.empty()) args.push_back("--partition=" + slurm.partition);
  if (!slurm.time.empty()) args.push_back("--time=" + slurm.time);
  if (slurm.cpus_per_task > 0) args.push_back(fmt::format("--cpus-per-task={}", slurm.cpus_per_task));
  if (!slurm.gpus_per_task.empty()) args.push_back("--gpus-per-task=" + slurm.gpus_per_task);
  for (const auto& option : slurm.sbatch_options) args.push_back(option);
  args.push_back(script);
  return args;
}

int submit_sweep(RunStore& store, std::int64_t sweep_id, const LaunchOptions& launch, const SlurmOptions& slurm) {
  if (launch.executable.empty()) throw RunError("the Slurm launcher was given no executable for its tasks");
  const std::vector<RunRecord> pending = store.reader().runs(sweep_id, RunStatus::pending);
  if (pending.empty()) return 0;
  for (const RunRecord& run : pending) {
    if (run.output_dir.empty()) {
      throw UsageError(
          fmt::format("run {} has no output folder: the Slurm launcher keeps each run's shard there", run.id));
    }
  }
  const fs::path folder = slurm_folder(pending);
  fs::create_directories(folder);
  int submission = 0;
  while (fs::exists(folder / fmt::format("submit-{}.sh", submission))) ++submission;
  const fs::path tasks_file = folder / fmt::format("submit-{}.tasks", submission);
  const fs::path script = folder / fmt::format("submit-{}.sh", submission);

  // Claimed first, so that no local worker takes them meanwhile; each shard holds the claimed attempt.
  std::vector<RunRecord> submitted;
  std::ofstream tasks(tasks_file);
  for (const RunRecord& run : pending) {
    if (!store.queue().claim_run(sweep_id, kSubmitting, run.id)) continue;  // taken by another worker meanwhile
    store.shards().export_run_shard(run.id, shard_of(run));
    fs::remove(collected_shard_of(run));
    tasks << run.id << '\t' << fs::absolute(shard_of(run)).string() << '\t' << run.output_dir << "/run.log\n";
    submitted.push_back(run);
  }
  tasks.close();
  if (submitted.empty()) return 0;
  std::ofstream(script) << slurm_task_script(fs::absolute(tasks_file).string(), slurm.runs_per_task, launch.executable,
                                             launch.plugin_paths);
  fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add);

  const int task_count = (static_cast<int>(submitted.size()) + slurm.runs_per_task - 1) / slurm.runs_per_task;
  const auto command =
      sbatch_arguments(slurm, sweep_id, task_count, fs::absolute(folder).string(), fs::absolute(script).string());
  const ProgramResult result = run_program(command);
  // --parsable prints "<job id>[;<cluster>]".
  const std::string job = trimmed(result.output.substr(0, result.output.find(';')));
  if (result.exit_code != 0 || job.empty() || job.find_first_not_of("0123456789") != std::string::npos) {
    for (const RunRecord& run : submitted) {
      store.queue().fail_run(run.id, "sbatch failed", RunStatus::interrupted);
      store.queue().requeue_run(run.id);
    }
    throw RunError(fmt::format("sbatch could not submit sweep {} ({}): {}", sweep_id,
                               result.exit_code < 0 ? "sbatch not found: is Slurm installed here?"
                                                    : fmt::format("exit code {}", result.exit_code),
                               trimmed(result.output)));
  }
  for (std::size_t i = 0; i < submitted.size(); ++i) {
    store.queue().assign_worker(submitted[i].id,
                                fmt::format("{}{}_{}", kWorkerPrefix, job, static_cast<int>(i) / slurm.runs_per_task));
  }
  fmt::print("sweep {}: {} run{} submitted as Slurm job array {} ({} task{}; script {})\n", sweep_id, submitted.size(),
             submitted.size() == 1 ? "" : "s", job, task_count, task_count == 1 ? "" : "s", script.string());
  return static_cast<int>(submitted.size());
}

// ---- collecting --------------------------------------------------------------------------------

CollectSummary collect_sweep(RunStore& store, std::int64_t sweep_id) {
  CollectSummary summary;
  std::vector<RunRecord> with_slurm;
  std::set<std::string> jobs;
  for (RunRecord& run : store.reader().runs(sweep_id, RunStatus::running)) {
    if (run.worker.rfind(kWorkerPrefix, 0) != 0) continue;
    if (run.worker != kSubmitting) jobs.insert(run.worker.substr(6, run.worker.find('_') - 6));
    with_slurm.push_back(std::move(run));
  }
  // Slurm first, shards second: a task that Slurm says has ended wrote its shard before.
  const TaskStates states = task_states(jobs);
  for (const RunRecord& run : with_slurm) {
    const std::string task = run.worker.substr(6);
    std::optional<RunStatus> in_shard;
    if (fs::exists(shard_of(run))) in_shard = store.shards().merge_shard(shard_of(run), run.id);
    const auto state = states.state.find(task);
    const std::string slurm_state = state == states.state.end() ? "" : state->second;
    if (!slurm_state.empty()) summary.slurm_state[run.id] = slurm_state;
    if (in_shard && *in_shard != RunStatus::pending && *in_shard != RunStatus::running) {
      fs::rename(shard_of(run), collected_shard_of(run));
      ++summary.merged;
      const RunRecord merged = store.reader().run(run.id);
      fmt::print("run {}: {}{} (Slurm task {})\n", run.id, to_string(merged.status),
                 merged.error.empty() ? "" : ": " + merged.error, task);
      continue;
    }
    if (run.worker != kSubmitting && (!states.asked || is_active_state(slurm_state))) {
      ++summary.active;
      continue;
    }
    const std::string why = run.worker == kSubmitting ? "its submission to Slurm did not complete"
                                                      : fmt::format("Slurm task {} {} before the run recorded its end",
                                                                    task, describe_state(slurm_state));
    store.queue().fail_run(run.id, why,
                           run.worker == kSubmitting ? RunStatus::interrupted : status_for_lost_run(slurm_state));
    if (fs::exists(shard_of(run))) fs::rename(shard_of(run), collected_shard_of(run));
    ++summary.lost;
    fmt::print("run {}: {}: {}\n", run.id, to_string(store.reader().run(run.id).status), why);
  }
  return summary;
}

void wait_for_slurm_tasks(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm) {
  fmt::print("waiting for the Slurm tasks of sweep {} (Ctrl-C stops waiting, not the tasks)\n", sweep_id);
  std::fflush(stdout);
  while (true) {
    const CollectSummary collected = collect_sweep(store, sweep_id);
    std::fflush(stdout);
    if (collected.active == 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(slurm.poll_seconds));
  }
}

SlurmStatus slurm_status(RunStore& store, std::int64_t sweep_id) {
  const CollectSummary collected = collect_sweep(store, sweep_id);
  // A local run whose process is gone is interrupted, not running: the status says so (and records it).
  for (const std::int64_t id :
       store.queue().reap_dead_runs(sweep_id, local_process_liveness(local_host_name(), kStaleAfterSeconds))) {
    fmt::print("run {}: its process is gone; marked interrupted\n", id);
  }
  SlurmStatus status;
  status.runs.columns = {"run", "#", "status", "slurm task", "slurm state", "error"};
  std::map<std::string, int> counts;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    const bool slurm_task = run.worker.rfind(kWorkerPrefix, 0) == 0;
    const auto state = collected.slurm_state.find(run.id);
    status.runs.rows.push_back({std::to_string(run.id), std::to_string(run.index), std::string(to_string(run.status)),
                                slurm_task ? run.worker.substr(6) : run.worker,
                                state == collected.slurm_state.end() ? std::string() : state->second, run.error});
    ++counts[to_string(run.status)];
  }
  std::string line;
  for (const auto& [name, count] : counts) line += fmt::format("{}{} {}", line.empty() ? "" : ", ", count, name);
  status.summary = fmt::format("sweep {}: {}", sweep_id, line);
  return status;
}

}  // namespace armor
