// The end of a sweep's execution: its status, its results table, the launcher's options.

#include <map>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/store/run_store.h"
#include "command.h"
#include "launcher.h"
#include "armor/run/sweep_plan.h"

namespace armor::app {
namespace {

void print_sweep_results(const RunStore& store, std::int64_t sweep_id) {
  const std::vector<RunRecord> runs = store.reader().runs(sweep_id);
  std::vector<std::string> metric_names;
  std::vector<std::map<std::string, double>> metrics;
  for (const auto& run : runs) {
    metrics.push_back(store.reader().metrics(run.id));
    for (const auto& [key, value] : metrics.back()) {
      if (std::find(metric_names.begin(), metric_names.end(), key) == metric_names.end()) metric_names.push_back(key);
    }
  }
  // clean_acc first, then the attacks in name order.
  std::stable_partition(metric_names.begin(), metric_names.end(), [](const std::string& n) { return n == "clean_acc"; });
  std::vector<std::string> columns{"run", "status", "overrides"};
  columns.insert(columns.end(), metric_names.begin(), metric_names.end());
  std::vector<std::vector<std::string>> rows;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::vector<std::string> row{std::to_string(runs[i].id), to_string(runs[i].status), join_overrides(runs[i].overrides)};
    for (const auto& name : metric_names) {
      const auto it = metrics[i].find(name);
      row.push_back(it == metrics[i].end() ? "-" : fmt::format("{:.4f}", it->second));
    }
    rows.push_back(std::move(row));
  }
  fmt::print("\n");
  print_table(columns, rows);
}

}  // namespace

int finish_sweep_and_report(RunStore& store, std::int64_t sweep_id, const LaunchSummary& summary, const std::string& db) {
  const std::vector<RunRecord> runs = store.reader().runs(sweep_id);
  std::size_t finished = 0, running = 0;
  for (const auto& run : runs) {
    finished += run.status == RunStatus::finished ? 1 : 0;
    running += run.status == RunStatus::running ? 1 : 0;
  }
  // Runs still claimed belong to other workers (`armor sweep work`): the sweep is not over, and the
  // last worker to finish closes it.
  if (running == 0) store.queue().finish_sweep(sweep_id);
  print_sweep_results(store, sweep_id);
  fmt::print("\nsweep {}: {} of {} runs finished", sweep_id, finished, runs.size());
  if (summary.failed + summary.diverged + summary.interrupted > 0) {
    fmt::print(" ({} failed, {} diverged, {} interrupted here)", summary.failed, summary.diverged, summary.interrupted);
  }
  if (summary.refused > 0) fmt::print(" ({} refused: not their own folder or checkpoint)", summary.refused);
  if (summary.retried > 0) fmt::print(", {} retries", summary.retried);
  if (running > 0) fmt::print(", {} still running in other workers", running);
  fmt::print("; results in {}\n", db);
  const std::size_t unfinished = runs.size() - finished - running;
  if (unfinished > 0) fmt::print("resume with: armor sweep resume {} --db {}\n", sweep_id, db);
  if (unfinished == 0) return kExitOk;
  return summary.refused > 0 ? kExitUsage : kExitFailed;
}

void add_launch_options(po::options_description& options, LaunchOptions& launch) {
  options.add_options()("jobs,j", po::value(&launch.jobs)->default_value(1),
                        "Runs at once, each in its own process; threads = 0 gives each cores/jobs threads")(
      "max-retries", po::value(&launch.max_retries)->default_value(0),
      "Retry a failed run (not a diverged one) this many times")(
      "fail-fast", po::bool_switch(&launch.fail_fast), "Start no further run after one fails; resume later");
}

void check_launch_options(const LaunchOptions& launch) {
  if (launch.jobs < 1) throw UsageError(fmt::format("--jobs must be at least 1 (got {})", launch.jobs));
  if (launch.max_retries < 0) throw UsageError(fmt::format("--max-retries must be >= 0 (got {})", launch.max_retries));
}

}  // namespace armor::app
