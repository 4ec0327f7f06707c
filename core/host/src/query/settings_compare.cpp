#include "armor/query/settings_compare.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/metric_flags.h"
#include "armor/query/paired_cells.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"

namespace armor::app {
namespace {

std::string and_of(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return "(" + a + ") and (" + b + ")";
}

// The runs a side is drawn from: a sweep's (its own, --sweep's or the latest) or those of no sweep.
struct Source {
  std::optional<std::int64_t> sweep;  // unset: outside every sweep
};

Source source_of(const ResultsReader& store, const SettingsCompareQuery& query, std::optional<std::int64_t> sweep,
                 bool outside_sweeps) {
  if (outside_sweeps) return Source{};
  return Source{sweep_or_latest(store, sweep ? sweep : query.filter.sweep_id)};
}

std::vector<RunSummary> side(const ResultsReader& store, const SettingsCompareQuery& query, const std::string& where,
                             const Source& source) {
  RunFilter filter = query.filter;
  filter.sweep_id = source.sweep;
  filter.outside_sweeps = !source.sweep;
  filter.where = and_of(filter.where, where);
  if (filter.statuses.empty()) filter.statuses = {RunStatus::finished};
  return store.find_runs(filter);
}

std::string side_name(const std::string& where, std::optional<std::int64_t> sweep, bool outside_sweeps) {
  std::string name = outside_sweeps ? "runs outside sweeps" : sweep ? "sweep " + std::to_string(*sweep) : "";
  if (!where.empty()) name += (name.empty() ? "" : ", ") + where;
  return name.empty() ? "every run" : name;
}

std::string value_list(const std::set<Cell, CellLess>& values) {
  std::vector<std::string> texts;
  for (const Cell& value : values) texts.push_back(cell_text(value));
  return join(texts, ", ");
}

}  // namespace

ResultTable compare_settings(const ResultsReader& store, const SettingsCompareQuery& query) {
  if (query.metrics.empty()) throw UsageError("armor db compare --a/--b needs a --metric");
  for (const std::string& metric : query.metrics) require_known(store, metric, "--metric");
  const bool source_a_given = query.sweep_a || query.outside_sweeps_a;
  const bool source_b_given = query.sweep_b || query.outside_sweeps_b;
  if ((query.sweep_a && query.outside_sweeps_a) || (query.sweep_b && query.outside_sweeps_b))
    throw UsageError("armor db compare: a side is a sweep's runs or the runs outside sweeps, not both");
  if (query.a.empty() && query.b.empty() && !(source_a_given && source_b_given)) {
    throw UsageError(
        "armor db compare: give the two settings, --a EXPR --b EXPR (or two sources, --sweep-a ID|none --sweep-b "
        "ID|none)");
  }
  const Source source_a = source_of(store, query, query.sweep_a, query.outside_sweeps_a);
  const Source source_b = source_of(store, query, query.sweep_b, query.outside_sweeps_b);
  const std::vector<RunSummary> runs_a = side(store, query, query.a, source_a);
  const std::vector<RunSummary> runs_b = side(store, query, query.b, source_b);
  const std::string name_a = side_name(query.a, query.sweep_a, query.outside_sweeps_a);
  const std::string name_b = side_name(query.b, query.sweep_b, query.outside_sweeps_b);
  if (runs_a.empty()) throw UsageError("armor db compare: no finished run is A (" + name_a + ")");
  if (runs_b.empty()) throw UsageError("armor db compare: no finished run is B (" + name_b + ")");

  // Each param's values on each side; those without a value in common tell A from B.
  std::vector<std::string> keys;
  std::map<std::string, std::set<Cell, CellLess>> values_a;
  std::map<std::string, std::set<Cell, CellLess>> values_b;
  for (const auto* runs : {&runs_a, &runs_b}) {
    for (const RunSummary& run : *runs) {
      for (const auto& [key, value] : run.params) {
        if (values_a.count(key) == 0 && values_b.count(key) == 0) keys.push_back(key);
        (runs == &runs_a ? values_a : values_b)[key].insert(to_cell(value));
      }
    }
  }
  std::vector<std::string> contrast;
  std::vector<std::string> pairing;
  for (const std::string& key : keys) {
    const auto& a = values_a[key];
    const auto& b = values_b[key];
    const bool shared = std::any_of(a.begin(), a.end(), [&](const Cell& value) { return b.count(value) != 0; });
    (shared || is_seed_key(key) ? pairing : contrast).push_back(key);  // runs pair by seed, always
  }
  const bool two_sources = source_a.sweep != source_b.sweep;
  if (contrast.empty() && !two_sources) {
    throw UsageError("armor db compare: A (" + name_a + ") and B (" + name_b +
                     ") share every param value, so nothing tells them apart; --a and --b must select different "
                     "settings (e.g. --a 'trainer.beta = 0' --b 'trainer.beta = 3')");
  }
  pairing.emplace_back("seed");  // the run's own seed field, besides any seed param

  // The partner of each A run: the B run with the same pairing values.
  std::map<CellKey, const RunSummary*, CellKeyLess> by_key_b;
  for (const RunSummary& run : runs_b) {
    const auto [at, inserted] = by_key_b.emplace(key_of(run, pairing), &run);
    if (!inserted) {
      throw UsageError(fmt::format(
          "armor db compare: runs {} and {} of B ({}) share {}, so a run of A would have two partners; narrow --b or "
          "--where, or add the param that separates them",
          at->second->run.id, run.run.id, name_b, key_text(pairing, at->first)));
    }
  }
  std::vector<std::pair<const RunSummary*, const RunSummary*>> pairs;
  std::set<CellKey, CellKeyLess> seen_a;
  std::size_t unpaired_a = 0;
  for (const RunSummary& run : runs_a) {
    const CellKey key = key_of(run, pairing);
    if (!seen_a.insert(key).second) {
      throw UsageError(
          fmt::format("armor db compare: two runs of A ({}) share {}, so pairs are ambiguous; narrow --a "
                      "or --where",
                      name_a, key_text(pairing, key)));
    }
    const auto partner = by_key_b.find(key);
    if (partner == by_key_b.end()) {
      ++unpaired_a;
      continue;
    }
    pairs.emplace_back(&run, partner->second);
  }
  if (pairs.empty()) {
    std::vector<std::string> differing;
    for (const std::string& key : pairing) {
      if (key != "seed" && values_a[key] != values_b[key])
        differing.push_back(key + " (A: " + value_list(values_a[key]) + "; B: " + value_list(values_b[key]) + ")");
    }
    throw UsageError("armor db compare: no run of A (" + name_a + ") has a partner in B (" + name_b +
                     ") with the same seed and settings" +
                     (differing.empty() ? std::string() : "; they differ in " + join(differing, ", ")));
  }
  const std::size_t unpaired_b = runs_b.size() - pairs.size();

  const MetricFlags flags(store);
  ResultTable table;
  table.columns = {"metric"};
  for (const std::string& column : paired_columns("pairs")) table.columns.push_back(column);
  for (const std::string& metric : query.metrics) {
    std::vector<double> a;
    std::vector<double> b;
    bool flagged = false;
    for (const auto& [run_a, run_b] : pairs) {
      const auto found_a = run_a->metrics.find(metric);
      const auto found_b = run_b->metrics.find(metric);
      if (found_a == run_a->metrics.end() || found_b == run_b->metrics.end()) continue;
      a.push_back(found_a->second);
      b.push_back(found_b->second);
      flagged = flagged || flags.flagged(run_a->run.id, metric) || flags.flagged(run_b->run.id, metric);
    }
    if (flagged) table.marked.insert({table.rows.size(), 4});
    std::vector<Cell> row{Cell{metric}};
    for (Cell& cell : paired_cells(a, b)) row.push_back(std::move(cell));
    table.rows.push_back(std::move(row));
  }
  if (!table.marked.empty()) table.legend = flag_legend() + " (a run of a pair)";
  // The pairing params worth naming: those that vary (the others are equal throughout).
  std::vector<std::string> shown_pairing;
  bool seed_shown = false;
  for (std::size_t i = 0; i + 1 < pairing.size(); ++i) {
    std::set<Cell, CellLess> all = values_a[pairing[i]];
    all.insert(values_b[pairing[i]].begin(), values_b[pairing[i]].end());
    if (all.size() < 2) continue;
    shown_pairing.push_back(pairing[i]);
    seed_shown = seed_shown || is_seed_key(pairing[i]);
  }
  if (!seed_shown) shown_pairing.emplace_back("seed");
  table.note = fmt::format(
      "A: {}; B: {}; they differ in {}. {} pairs by {}{}. difference = B − A, mean over pairs with its 95 % "
      "confidence interval (Student's t); t_p: paired t-test; wilcoxon_p: Wilcoxon signed-rank test (exact "
      "distribution for up to 50 pairs without ties or zero differences, normal approximation otherwise); both "
      "two-sided.",
      name_a, name_b, contrast.empty() ? std::string("their sweep only") : join(contrast, ", "), pairs.size(),
      join(shown_pairing, ", "),
      unpaired_a + unpaired_b == 0
          ? ""
          : fmt::format("; left out without a partner: {} runs of A, {} of B", unpaired_a, unpaired_b));
  return table;
}

}  // namespace armor::app
