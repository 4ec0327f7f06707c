#include "armor/launch/sweep_outcome.h"

#include "armor/launch/process_liveness.h"

#include <algorithm>
#include <map>

#include <fmt/core.h>

#include "armor/query/metric_flags.h"
#include "armor/store/run_store.h"

namespace armor {

SweepOutcome finish_sweep(RunStore& store, std::int64_t sweep_id) {
  SweepOutcome outcome;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    ++outcome.runs;
    outcome.finished += run.status == RunStatus::finished ? 1 : 0;
    outcome.running += run.status == RunStatus::running ? 1 : 0;
  }
  // Runs still claimed belong to other workers (`armor sweep work`): the sweep is not over, and the
  // last worker to finish closes it.
  if (outcome.running == 0) store.queue().finish_sweep(sweep_id);
  return outcome;
}

app::ResultTable sweep_results_table(const RunStore& store, std::int64_t sweep_id) {
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
  std::stable_partition(metric_names.begin(), metric_names.end(),
                        [](const std::string& n) { return n == "clean_acc"; });
  const app::MetricFlags flags(store.reader());
  app::ResultTable table;
  table.columns = {"run", "status", "overrides"};
  table.columns.insert(table.columns.end(), metric_names.begin(), metric_names.end());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    std::string overrides;
    for (const auto& part : runs[i].overrides) overrides += (overrides.empty() ? "" : " ") + part;
    std::vector<app::Cell> row{std::to_string(runs[i].id), std::string(to_string(runs[i].status)), overrides};
    for (const auto& name : metric_names) {
      if (flags.flagged(runs[i].id, name)) table.marked.insert({table.rows.size(), row.size()});
      const auto it = metrics[i].find(name);
      row.emplace_back(it == metrics[i].end() ? std::string("-") : fmt::format("{:.4f}", it->second));
    }
    table.rows.push_back(std::move(row));
  }
  if (!table.marked.empty()) table.legend = app::flag_legend();
  return table;
}

std::string describe_sweep_end(std::int64_t sweep_id, const SweepOutcome& outcome, const LaunchSummary& summary,
                               const std::string& db) {
  std::string text = fmt::format("sweep {}: {} of {} runs finished", sweep_id, outcome.finished, outcome.runs);
  if (summary.failed + summary.diverged + summary.interrupted > 0) {
    text += fmt::format(" ({} failed, {} diverged, {} interrupted here)", summary.failed, summary.diverged,
                        summary.interrupted);
  }
  if (summary.refused > 0) text += fmt::format(" ({} refused: not their own folder or checkpoint)", summary.refused);
  if (summary.retried > 0) text += fmt::format(", {} retries", summary.retried);
  if (outcome.running > 0) text += fmt::format(", {} still running in other workers", outcome.running);
  text += fmt::format("; results in {}\n", db);
  if (outcome.unfinished() > 0) text += fmt::format("resume with: armor sweep resume {} --db {}\n", sweep_id, db);
  return text;
}

LaunchSummary summary_of_sweep(const RunStore& store, std::int64_t sweep_id) {
  LaunchSummary summary;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    if (run.status == RunStatus::finished) ++summary.finished;
    if (run.status == RunStatus::failed) ++summary.failed;
    if (run.status == RunStatus::diverged) ++summary.diverged;
    if (run.status == RunStatus::interrupted) ++summary.interrupted;
  }
  return summary;
}

int requeue_unfinished_runs(RunStore& store, std::int64_t sweep_id, bool force) {
  const auto reaped =
      store.queue().reap_dead_runs(sweep_id, local_process_liveness(local_host_name(), kStaleAfterSeconds));
  for (const auto id : reaped) fmt::print("run {}: its process is gone; marked interrupted\n", id);
  int queued = 0;
  for (const RunRecord& run : store.reader().runs(sweep_id)) {
    if (run.status == RunStatus::finished || run.status == RunStatus::running) continue;
    // A run that never ran always runs; one that failed is not retried when a run trained under its
    // exact config has finished since (in any sweep).
    if (!force && run.status != RunStatus::pending) {
      if (const auto twin = store.reader().finished_trained_run_with_hash(run.config_hash)) {
        fmt::print("run {}: skipped, its config already trained and finished as run {} (--force runs it)\n", run.id,
                   *twin);
        continue;
      }
    }
    if (run.status != RunStatus::pending && !store.queue().requeue_run(run.id)) continue;
    ++queued;
  }
  return queued;
}

}  // namespace armor
