#include "slurm_launcher.h"

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
#include <toml++/toml.h>

#include "armor/error.h"
#include "armor/launch/process_liveness.h"
#include "armor/store/run_store.h"

namespace armor::app {
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
  static const std::set<std::string> kEnded{"COMPLETED", "FAILED",   "TIMEOUT",    "CANCELLED",    "PREEMPTED",
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
  bool asked = false;                         // squeue answered
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
  const ProgramResult accounting =
      run_program({"sacct", "-n", "-P", "-X", "-j", job_list, "-o", "JobID,State"});
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

// The task script: task i runs lines i*R+1 .. i*R+R of the tasks file (run id, shard, log).
std::string task_script(const std::string& tasks_file, int runs_per_task, const HostOptions& host) {
  std::string plugin_paths;
  for (const auto& path : host.plugin_paths) plugin_paths += " --plugin-path " + shell_quoted(path);
  return fmt::format(
      "#!/bin/bash\n"
      "# Written by armor (--launcher slurm). Task i of the array executes runs i*{1}+1 .. i*{1}+{1}\n"
      "# of the tasks file, each into its own shard database; `armor sweep collect` merges them.\n"
      "set -u\n"
      "first=$(( SLURM_ARRAY_TASK_ID * {1} + 1 ))\n"
      "status=0\n"
      "while IFS=$'\\t' read -r run shard log; do\n"
      "  echo \"== run $run in Slurm task ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} on $(hostname)\" >>\"$log\"\n"
      "  {2} _exec-run --shard \"$shard\" --run \"$run\"{3} >>\"$log\" 2>&1 || status=1\n"
      "done < <(sed -n \"${{first}},$(( first + {1} - 1 ))p\" {0})\n"
      "exit $status\n",
      shell_quoted(tasks_file), runs_per_task, shell_quoted(self_executable()), plugin_paths);
}

// sbatch's arguments, from the settings.
std::vector<std::string> sbatch_command(const SlurmOptions& slurm, std::int64_t sweep_id, int tasks,
                                        const fs::path& folder, const fs::path& script) {
  std::vector<std::string> args{"sbatch", "--parsable", fmt::format("--job-name=armor-sweep-{}", sweep_id),
                                "--output=" + (folder / "%A_%a.out").string(),
                                fmt::format("--array=0-{}{}", tasks - 1,
                                            slurm.max_parallel > 0 ? fmt::format("%{}", slurm.max_parallel) : "")};
  if (!slurm.partition.empty()) args.push_back("--partition=" + slurm.partition);
  if (!slurm.time.empty()) args.push_back("--time=" + slurm.time);
  if (slurm.cpus_per_task > 0) args.push_back(fmt::format("--cpus-per-task={}", slurm.cpus_per_task));
  if (!slurm.gpus_per_task.empty()) args.push_back("--gpus-per-task=" + slurm.gpus_per_task);
  for (const auto& option : slurm.sbatch_options) args.push_back(option);
  args.push_back(script.string());
  return args;
}

void check_slurm_options(const SlurmOptions& slurm) {
  if (slurm.launcher != "local" && slurm.launcher != "slurm") {
    throw UsageError("--launcher must be local or slurm (got '" + slurm.launcher + "')");
  }
  if (slurm.cpus_per_task < 0) throw UsageError(fmt::format("--slurm-cpus-per-task must be >= 0 (got {})", slurm.cpus_per_task));
  if (slurm.runs_per_task < 1) throw UsageError(fmt::format("--slurm-runs-per-task must be >= 1 (got {})", slurm.runs_per_task));
  if (slurm.max_parallel < 0) throw UsageError(fmt::format("--slurm-max-parallel must be >= 0 (got {})", slurm.max_parallel));
  if (!(slurm.poll_seconds > 0)) throw UsageError(fmt::format("--poll-seconds must be > 0 (got {})", slurm.poll_seconds));
  for (const auto& option : slurm.sbatch_options) {
    if (option.rfind("-", 0) != 0) {
      throw UsageError("--sbatch-option takes an sbatch option such as --account=name (got '" + option + "')");
    }
  }
}

}  // namespace

// ---- options -----------------------------------------------------------------------------------

void add_slurm_options(po::options_description& options, SlurmOptions& slurm) {
  options.add_options()("launcher", po::value(&slurm.launcher)->default_value("local"),
                        "Where runs execute: local (processes here, --jobs at a time) or slurm (one Slurm job "
                        "array; submits and returns unless --wait)")(
      "wait", po::bool_switch(&slurm.wait), "slurm: wait for the tasks, collecting results as they end")(
      "slurm-config", po::value(&slurm.config_file)->value_name("FILE"),
      "slurm: a TOML file whose [slurm] table sets partition, time, cpus_per_task, gpus_per_task, "
      "runs_per_task, max_parallel, sbatch_options = [...] (the command line wins)")(
      "slurm-partition", po::value(&slurm.partition), "slurm: partition (default: the cluster's)")(
      "slurm-time", po::value(&slurm.time), "slurm: time limit of each task, e.g. 04:00:00")(
      "slurm-cpus-per-task", po::value(&slurm.cpus_per_task), "slurm: CPUs of each task (also its training threads)")(
      "slurm-gpus-per-task", po::value(&slurm.gpus_per_task), "slurm: GPUs of each task, e.g. 1 or a100:1")(
      "slurm-runs-per-task", po::value(&slurm.runs_per_task), "slurm: runs each task executes, one after the other (1)")(
      "slurm-max-parallel", po::value(&slurm.max_parallel), "slurm: at most this many tasks at once (0: no limit)")(
      "sbatch-option", po::value(&slurm.sbatch_options)->composing(),
      "slurm: one more sbatch option, e.g. --sbatch-option=--account=abc (repeatable)")(
      "poll-seconds", po::value(&slurm.poll_seconds)->default_value(10), "slurm --wait: how often to ask Slurm");
}

void apply_slurm_config(SlurmOptions& slurm, const po::variables_map& values) {
  if (!slurm.config_file.empty()) {
    toml::table file;
    try {
      file = toml::parse_file(slurm.config_file);
    } catch (const toml::parse_error& error) {
      std::ostringstream where;
      where << error.source().begin;
      throw ConfigError(slurm.config_file + ":" + where.str() + ": " + std::string(error.description()));
    }
    const toml::table* table = file["slurm"].as_table();
    if (table == nullptr) throw ConfigError(slurm.config_file + ": has no [slurm] table");
    const auto bad = [&](const std::string& key, const char* expected) {
      return ConfigError(fmt::format("{}: slurm.{} must be {}", slurm.config_file, key, expected));
    };
    for (const auto& [key, node] : *table) {
      const std::string name(key.str());
      const auto from_command_line = [&](const std::string& option) { return values.count(option) > 0; };
      if (name == "partition" || name == "time" || name == "gpus_per_task") {
        const auto* text = node.as_string();
        if (text == nullptr && !(name == "gpus_per_task" && node.is_integer())) throw bad(name, "a string");
        const std::string value = text != nullptr ? text->get() : std::to_string(node.as_integer()->get());
        std::string option = "slurm-" + name;
        for (char& c : option) c = c == '_' ? '-' : c;
        if (from_command_line(option)) continue;
        (name == "partition" ? slurm.partition : name == "time" ? slurm.time : slurm.gpus_per_task) = value;
      } else if (name == "cpus_per_task" || name == "runs_per_task" || name == "max_parallel") {
        const auto* number = node.as_integer();
        if (number == nullptr) throw bad(name, "an integer");
        std::string option = "slurm-" + name;
        for (char& c : option) c = c == '_' ? '-' : c;
        if (from_command_line(option)) continue;
        (name == "cpus_per_task" ? slurm.cpus_per_task : name == "runs_per_task" ? slurm.runs_per_task
                                                                                  : slurm.max_parallel) =
            static_cast<int>(number->get());
      } else if (name == "sbatch_options") {
        const auto* list = node.as_array();
        if (list == nullptr) throw bad(name, "an array of strings");
        std::vector<std::string> options;
        for (const auto& item : *list) {
          if (!item.is_string()) throw bad(name, "an array of strings");
          options.push_back(item.as_string()->get());
        }
        // The file's options first, the command line's after: sbatch takes the last of a repeated one.
        options.insert(options.end(), slurm.sbatch_options.begin(), slurm.sbatch_options.end());
        slurm.sbatch_options = std::move(options);
      } else {
        throw ConfigError(fmt::format("{}: unknown key slurm.{} (known: partition, time, cpus_per_task, gpus_per_task, "
                                      "runs_per_task, max_parallel, sbatch_options)",
                                      slurm.config_file, name));
      }
    }
  }
  check_slurm_options(slurm);
  if (!slurm.enabled()) {
    for (const char* option : {"wait", "slurm-config", "slurm-partition", "slurm-time", "slurm-cpus-per-task",
                               "slurm-gpus-per-task", "slurm-runs-per-task", "slurm-max-parallel", "sbatch-option"}) {
      if (values.count(option) > 0 && !values[option].defaulted()) {
        throw UsageError(std::string("--") + option + " needs --launcher slurm");
      }
    }
  }
}

std::int64_t slurm_threads_per_run(const SlurmOptions& slurm) { return std::max(1, slurm.cpus_per_task); }

// ---- submitting --------------------------------------------------------------------------------

int submit_sweep(RunStore& store, std::int64_t sweep_id, const HostOptions& host, const SlurmOptions& slurm) {
  const std::vector<RunRecord> pending = store.reader().runs(sweep_id, RunStatus::pending);
  if (pending.empty()) return 0;
  for (const RunRecord& run : pending) {
    if (run.output_dir.empty()) {
      throw UsageError(fmt::format("run {} has no output folder: the Slurm launcher keeps each run's shard there", run.id));
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
  std::ofstream(script) << task_script(fs::absolute(tasks_file).string(), slurm.runs_per_task, host);
  fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add);

  const int task_count = (static_cast<int>(submitted.size()) + slurm.runs_per_task - 1) / slurm.runs_per_task;
  const auto command = sbatch_command(slurm, sweep_id, task_count, fs::absolute(folder), fs::absolute(script));
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
    const std::string why = run.worker == kSubmitting
                                ? "its submission to Slurm did not complete"
                                : fmt::format("Slurm task {} {} before the run recorded its end", task, describe_state(slurm_state));
    store.queue().fail_run(run.id, why, run.worker == kSubmitting ? RunStatus::interrupted : status_for_lost_run(slurm_state));
    if (fs::exists(shard_of(run))) fs::rename(shard_of(run), collected_shard_of(run));
    ++summary.lost;
    fmt::print("run {}: {}: {}\n", run.id, to_string(store.reader().run(run.id).status), why);
  }
  return summary;
}

int wait_for_sweep(RunStore& store, std::int64_t sweep_id, const SlurmOptions& slurm, const std::string& db) {
  fmt::print("waiting for the Slurm tasks of sweep {} (Ctrl-C stops waiting, not the tasks)\n", sweep_id);
  std::fflush(stdout);
  while (true) {
    const CollectSummary collected = collect_sweep(store, sweep_id);
    std::fflush(stdout);
    if (collected.active == 0) break;
    std::this_thread::sleep_for(std::chrono::duration<double>(slurm.poll_seconds));
  }
  LaunchSummary summary;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    if (run.status == RunStatus::finished) ++summary.finished;
    if (run.status == RunStatus::failed) ++summary.failed;
    if (run.status == RunStatus::diverged) ++summary.diverged;
    if (run.status == RunStatus::interrupted) ++summary.interrupted;
  }
  return finish_sweep_and_report(store, sweep_id, summary, db);
}

void print_slurm_status(RunStore& store, std::int64_t sweep_id) {
  const CollectSummary collected = collect_sweep(store, sweep_id);
  // A local run whose process is gone is interrupted, not running: the status says so (and records it).
  for (const std::int64_t id : store.queue().reap_dead_runs(sweep_id, local_process_liveness(host_name(), kStaleAfterSeconds))) {
    fmt::print("run {}: its process is gone; marked interrupted\n", id);
  }
  std::vector<std::vector<std::string>> rows;
  std::map<std::string, int> counts;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    const bool slurm_task = run.worker.rfind(kWorkerPrefix, 0) == 0;
    const auto state = collected.slurm_state.find(run.id);
    rows.push_back({std::to_string(run.id), std::to_string(run.index), to_string(run.status),
                    slurm_task ? run.worker.substr(6) : run.worker,
                    state == collected.slurm_state.end() ? "" : state->second, run.error});
    ++counts[to_string(run.status)];
  }
  print_table({"run", "#", "status", "slurm task", "slurm state", "error"}, rows);
  std::string line;
  for (const auto& [status, count] : counts) line += fmt::format("{}{} {}", line.empty() ? "" : ", ", count, status);
  fmt::print("sweep {}: {}\n", sweep_id, line);
}

}  // namespace armor::app
