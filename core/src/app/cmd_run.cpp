// armor run EXPERIMENT [overrides...] [--multirun]
// Composes and validates every run before writing anything to runs.db, records the sweep and its
// runs (pending), then executes each run in its own process so that a crash costs one run, not
// the sweep. The parent records a crashed child's run as failed with the signal.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>

#include <fmt/core.h>

#include "armor/config/config.h"
#include "armor/config/sweep.h"
#include "armor/error.h"
#include "armor/plugin/registry.h"
#include "armor/run/experiment.h"
#include "armor/store/run_store.h"
#include "command.h"

extern char** environ;

namespace armor::app {
namespace {

volatile sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

std::string source_revision() {
#ifdef ARMOR_SOURCE_DIR
  const std::string command = std::string("git -C '") + ARMOR_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[128] = {0};
    std::string text = fgets(buffer, sizeof buffer, pipe) != nullptr ? buffer : "";
    pclose(pipe);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (!text.empty()) return text;
  }
#endif
  return "unknown";
}

std::string host_name() {
  char buffer[256] = {0};
  return gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown";
}

// Runs `armor _exec-run` for one run; returns "" on success or the reason it failed.
std::string execute_in_child(const HostOptions& host, std::int64_t run_id) {
  std::vector<std::string> args{self_executable(), "_exec-run", "--db", host.db, "--run", std::to_string(run_id)};
  for (const auto& path : host.plugin_paths) {
    args.emplace_back("--plugin-path");
    args.push_back(path);
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], nullptr, &attributes, argv.data(), environ);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0) return std::string("could not start the run process: ") + std::strerror(spawned);

  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return std::string("lost the run process: ") + std::strerror(errno);
  }
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == 0 ? "" : "the run process exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return fmt::format("the run process was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  }
  return "the run process ended abnormally";
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : separator) + part;
  return text;
}

std::string format_metric(double value) { return fmt::format("{:.4f}", value); }

// The results of the runs just executed, one row each, metrics as columns.
void print_results(const RunStore& store, const std::vector<std::int64_t>& run_ids,
                   const std::vector<std::vector<std::string>>& points) {
  std::vector<std::string> metric_names;
  std::vector<std::map<std::string, double>> metrics;
  for (const auto id : run_ids) {
    metrics.push_back(store.metrics(id));
    for (const auto& [key, value] : metrics.back()) {
      if (std::find(metric_names.begin(), metric_names.end(), key) == metric_names.end()) metric_names.push_back(key);
    }
  }
  // clean_acc first, then the attacks in name order.
  std::stable_partition(metric_names.begin(), metric_names.end(), [](const std::string& n) { return n == "clean_acc"; });
  std::vector<std::string> columns{"run", "status", "overrides"};
  columns.insert(columns.end(), metric_names.begin(), metric_names.end());
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < run_ids.size(); ++i) {
    const RunRecord record = store.run(run_ids[i]);
    std::vector<std::string> row{std::to_string(record.id), to_string(record.status), join(points[i], " ")};
    for (const auto& name : metric_names) {
      const auto it = metrics[i].find(name);
      row.push_back(it == metrics[i].end() ? "-" : format_metric(it->second));
    }
    rows.push_back(std::move(row));
  }
  fmt::print("\n");
  print_table(columns, rows);
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  HostOptions host;
  bool multirun = false;
  std::string experiment_path;
  std::vector<std::string> overrides;
  po::options_description visible("options");
  visible.add_options()("multirun,m", po::bool_switch(&multirun),
                        "Sweep: each override may list values (a,b,c or range(start,stop[,step])); the cartesian "
                        "product runs, one run per point, all under one sweep");
  add_db_option(visible, host);
  add_plugin_path_option(visible, host);
  po::options_description hidden;
  hidden.add_options()("experiment", po::value(&experiment_path)->required(), "")(
      "overrides", po::value(&overrides)->composing(), "");
  po::positional_options_description positional;
  positional.add("experiment", 1).add("overrides", -1);
  po::variables_map values;
  if (!parse_command_line("armor run EXPERIMENT.toml [key=value ...] [--multirun] [options]\n\n"
                          "Overrides: key=value (set), +key=value (add), ++key=value (add or replace), ~key (delete).\n"
                          "Values are TOML (3, 0.1, true, \"text\", [1,2]), fractions (8/255) or bare words.",
                          args, visible, hidden, positional, values)) {
    return kExitOk;
  }

  Config::load(experiment_path);  // a missing file or bad TOML fails before anything else
  const std::vector<std::vector<std::string>> points =
      multirun ? expand_multirun(overrides) : std::vector<std::vector<std::string>>{overrides};
  const Registry& registry = load_registry(host);

  // Everything is composed and checked before the first write: a bad point writes no run at all.
  std::vector<NewRun> runs;
  const std::string revision = source_revision();
  const std::string host_label = host_name();
  for (std::size_t i = 0; i < points.size(); ++i) {
    Config config = Config::load(experiment_path);  // a copy would lose the file positions
    config.apply(points[i]);
    const Experiment experiment = resolve_experiment(config, registry);
    NewRun run;
    run.index = static_cast<int>(i);
    run.experiment = experiment_path;
    run.config = experiment.to_toml();
    run.overrides = points[i];
    run.config_hash = experiment.hash();
    run.seed = experiment.seed();
    run.revision = revision;
    run.host = host_label;
    run.params = experiment.flat_params;
    runs.push_back(std::move(run));
  }

  RunStore store(host.db);
  std::vector<std::int64_t> run_ids;
  std::optional<std::int64_t> sweep_id;
  if (multirun) {
    NewSweep sweep{std::filesystem::path(experiment_path).stem().string(), experiment_path, join(overrides, " ")};
    auto [id, ids] = store.add_sweep(sweep, runs);
    sweep_id = id;
    run_ids = ids;
    fmt::print("sweep {}: {} runs recorded in {}\n", id, ids.size(), host.db);
  } else {
    run_ids.push_back(store.add_run(runs.front()));
  }

  // Ctrl-C reaches the run process too; the sweep stops after it and records why.
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  int failures = 0;
  std::size_t executed = 0;
  for (std::size_t i = 0; i < run_ids.size() && interrupted == 0; ++i) {
    fmt::print("\n== run {} ({}/{}) {}\n", run_ids[i], i + 1, run_ids.size(), join(points[i], " "));
    std::fflush(stdout);
    const std::string failure = execute_in_child(host, run_ids[i]);
    ++executed;
    if (!failure.empty()) {
      ++failures;
      store.fail_run(run_ids[i], failure);  // no-op when the run already recorded its own failure
      const RunRecord record = store.run(run_ids[i]);
      fmt::print(stderr, "run {} failed: {}\n", run_ids[i], record.error.empty() ? failure : record.error);
    }
  }
  if (interrupted != 0) {
    for (std::size_t i = executed; i < run_ids.size(); ++i) store.fail_run(run_ids[i], "not started: the sweep was interrupted");
    failures += static_cast<int>(run_ids.size() - executed);
  }
  if (sweep_id) store.finish_sweep(*sweep_id);
  print_results(store, run_ids, points);
  fmt::print("\n{} of {} runs finished; results in {} (armor db list --db {})\n", run_ids.size() - failures,
             run_ids.size(), host.db, host.db);
  return failures == 0 ? kExitOk : kExitFailed;
}

}  // namespace armor::app
