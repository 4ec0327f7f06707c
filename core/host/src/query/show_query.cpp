#include "armor/query/show_query.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {
namespace {

ResultTable key_value_table(const std::vector<std::pair<std::string, Cell>>& entries) {
  ResultTable table;
  table.columns = {"key", "value"};
  for (const auto& [key, value] : entries) table.rows.push_back({Cell{key}, value});
  return table;
}

ResultTable run_fields_table(const RunSummary& run) {
  std::vector<std::pair<std::string, Cell>> entries;
  for (const char* field :
       {"id", "sweep", "idx", "status", "experiment", "overrides", "config_hash", "seed", "revision", "host",
        "created_at", "started_at", "finished_at", "output_dir", "worker", "pid", "attempt", "heartbeat_at", "error"}) {
    const Cell value = value_of(run, field);
    if (!std::holds_alternative<std::monostate>(value)) entries.emplace_back(field, value);
  }
  return key_value_table(entries);
}

// One row per curve: epochs, first, last, min (at epoch), max (at epoch).
ResultTable curve_summary(const std::vector<EpochMetric>& epochs) {
  std::map<std::string, std::vector<const EpochMetric*>> curves;
  for (const EpochMetric& point : epochs) curves[point.key].push_back(&point);
  ResultTable table;
  table.columns = {"curve", "epochs", "first", "last", "min", "min_epoch", "max", "max_epoch"};
  for (const auto& [key, points] : curves) {
    const EpochMetric* low = nullptr;
    const EpochMetric* high = nullptr;
    for (const EpochMetric* point : points) {
      if (!std::isfinite(point->value)) continue;
      if (low == nullptr || point->value < low->value) low = point;
      if (high == nullptr || point->value > high->value) high = point;
    }
    const auto value = [](const EpochMetric* point) { return point ? Cell{point->value} : Cell{}; };
    const auto epoch = [](const EpochMetric* point) { return point ? Cell{std::int64_t{point->epoch}} : Cell{}; };
    table.rows.push_back({Cell{key}, Cell{static_cast<std::int64_t>(points.size())}, Cell{points.front()->value},
                          Cell{points.back()->value}, value(low), epoch(low), value(high), epoch(high)});
  }
  return table;
}

// One row per (layer, expert), one column per key: usage_share, clean_acc, pgd20_acc, ...
ResultTable expert_table(const std::vector<ExpertMetric>& metrics) {
  std::vector<std::string> keys;
  std::map<std::pair<std::string, int>, std::map<std::string, double>> cells;
  for (const ExpertMetric& metric : metrics) {
    if (std::find(keys.begin(), keys.end(), metric.key) == keys.end()) keys.push_back(metric.key);
    cells[{metric.layer, metric.expert}][metric.key] = metric.value;
  }
  std::sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
    return (a == "usage_share") != (b == "usage_share") ? a == "usage_share" : a < b;  // usage first
  });
  ResultTable table;
  table.columns = {"layer", "expert"};
  table.columns.insert(table.columns.end(), keys.begin(), keys.end());
  for (const auto& [where, values] : cells) {
    std::vector<Cell> row;
    row.emplace_back(where.first);
    row.emplace_back(std::int64_t{where.second});
    for (const std::string& key : keys) {
      const auto found = values.find(key);
      if (found == values.end()) {
        row.emplace_back();
      } else {
        row.emplace_back(found->second);
      }
    }
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

RunDetails show_run(const ResultsReader& store, std::int64_t run_id) {
  RunFilter filter;
  filter.run_ids = {run_id};
  const std::vector<RunSummary> found = find_runs_as_they_are(store, filter);
  if (found.empty()) throw UsageError(store.path() + " has no run " + std::to_string(run_id));
  const RunSummary& run = found.front();

  RunDetails details;
  std::vector<Section>& sections = details.sections;
  sections.emplace_back("run " + std::to_string(run_id), run_fields_table(run));
  std::vector<std::pair<std::string, Cell>> provenance;
  for (const auto& [key, value] : store.provenance(run_id)) provenance.emplace_back(key, Cell{value});
  if (!provenance.empty()) sections.emplace_back("provenance", key_value_table(provenance));
  std::vector<std::pair<std::string, Cell>> metrics;
  for (const auto& [key, value] : run.metrics) metrics.emplace_back(key, Cell{value});
  ResultTable metric_table = key_value_table(metrics);
  const MetricFlags flags(store, {run_id});
  for (std::size_t r = 0; r < metrics.size(); ++r) {
    if (flags.flagged(run_id, metrics[r].first)) metric_table.marked.insert({r, 1});
  }
  if (!metric_table.marked.empty()) {
    metric_table.legend = std::string(kFlagMark) + " flagged by an attack-validity check: see checks below";
  }
  sections.emplace_back("metrics", metric_table);
  const std::vector<EvalCheck> checks = store.eval_checks(run_id);
  if (!checks.empty()) {
    ResultTable table;
    table.columns = {"check", "metric", "value", "flagged", "detail"};
    for (const EvalCheck& check : checks) {
      table.rows.push_back({Cell{check.check}, Cell{check.metric.empty() ? std::string("(all)") : check.metric},
                            Cell{check.value}, Cell{check.flagged ? std::string("FLAGGED") : std::string("ok")},
                            Cell{check.detail}});
    }
    sections.emplace_back("checks", table);
  }
  const std::vector<EpochMetric> epochs = store.epoch_metrics(run_id);
  if (!epochs.empty()) sections.emplace_back("curves", curve_summary(epochs));
  const std::vector<ExpertMetric> experts = store.expert_metrics(run_id);
  if (!experts.empty()) sections.emplace_back("experts", expert_table(experts));
  const std::vector<ArtifactRecord> artifacts = store.artifacts(run_id);
  if (!artifacts.empty()) {
    ResultTable table;
    table.columns = {"kind", "path", "sha256"};
    for (const ArtifactRecord& artifact : artifacts) {
      table.rows.push_back({Cell{artifact.kind}, Cell{artifact.path}, Cell{artifact.sha256}});
    }
    sections.emplace_back("artifacts", table);
  }
  std::vector<std::pair<std::string, Cell>> params;
  for (const auto& [key, value] : run.params) params.emplace_back(key, to_cell(value));
  sections.emplace_back("params", key_value_table(params));
  details.config = run.run.config;
  return details;
}

}  // namespace armor::app
