#include "armor/query/effects_query.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/query/pivot.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/statistics.h"

namespace armor::app {
namespace {

constexpr std::size_t kMaxDistinct = 10;  // more distinct values than this: binned
constexpr std::size_t kBins = 5;

Cell number_or_null(double value) { return std::isfinite(value) ? Cell{value} : Cell{}; }

std::string source_name(const std::vector<std::string>& keys, const std::vector<std::size_t>& factors) {
  std::vector<std::string> names;
  for (const std::size_t f : factors) names.push_back(keys[f]);
  return join(names, " × ");
}

}  // namespace

ResultTable effects_table(const std::vector<RunSummary>& all_runs, const std::string& metric,
                          std::vector<std::string> keys, std::size_t max_order) {
  std::vector<const RunSummary*> runs;
  std::vector<double> values;
  for (const RunSummary& run : all_runs) {
    const auto found = run.metrics.find(metric);
    if (found == run.metrics.end() || !std::isfinite(found->second)) continue;
    runs.push_back(&run);
    values.push_back(found->second);
  }
  std::vector<RunSummary> with_metric;
  for (const RunSummary* run : runs) with_metric.push_back(*run);
  if (keys.empty()) keys = varying_params(with_metric);
  ResultTable table;
  table.columns = {"metric", "source", "df", "ss", "ms", "f", "p", "share"};
  if (keys.empty() || runs.size() < 2) {
    table.note = "no swept param varies among the runs with " + metric;
    return table;
  }
  // Each key's levels (distinct values, in order) and each run's level.
  std::vector<std::size_t> level_counts;
  std::vector<Observation> design(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) design[i].value = values[i];
  for (const std::string& key : keys) {
    std::set<Cell, CellLess> distinct;
    for (const RunSummary* run : runs) distinct.insert(value_of(*run, key));
    const std::vector<Cell> levels(distinct.begin(), distinct.end());
    level_counts.push_back(levels.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const Cell value = value_of(*runs[i], key);
      const auto at = std::find_if(levels.begin(), levels.end(), [&](const Cell& level) {
        return !cell_less(level, value) && !cell_less(value, level);
      });
      design[i].levels.push_back(static_cast<std::size_t>(at - levels.begin()));
    }
  }
  std::size_t cells = 1;
  for (const std::size_t count : level_counts) cells *= count;
  const bool balanced = is_balanced(design, level_counts);
  const std::size_t per_cell = balanced ? runs.size() / cells : 0;
  if (balanced && (per_cell > 1 || keys.size() > 1)) {
    std::size_t order = max_order == 0 || max_order > keys.size() ? keys.size() : max_order;
    if (per_cell == 1) order = std::min(order, keys.size() - 1);
    const AnovaTable anova = balanced_anova(design, level_counts, order);
    for (const AnovaTerm& term : anova.terms) {
      table.rows.push_back({Cell{metric}, Cell{source_name(keys, term.factors)}, Cell{term.df}, Cell{term.ss},
                            number_or_null(term.ms), number_or_null(term.f), number_or_null(term.p),
                            number_or_null(term.share)});
    }
    table.rows.push_back({Cell{metric},
                          Cell{std::string(per_cell > 1 && order == keys.size() ? "residual (seeds)" : "residual")},
                          Cell{anova.residual.df}, Cell{anova.residual.ss}, number_or_null(anova.residual.ms), Cell{},
                          Cell{}, number_or_null(anova.residual.share)});
    table.rows.push_back({Cell{metric}, Cell{std::string("total")}, Cell{anova.total_df}, Cell{anova.total_ss}, Cell{},
                          Cell{}, Cell{}, Cell{1.0}});
    table.note = fmt::format(
        "{}: a full {} grid with {} run{} per cell: exact ANOVA (fixed effects, balanced: Type I = II = III), F "
        "against the {} mean square; share = SS / total SS{}",
        metric,
        join(
            [&] {
              std::vector<std::string> sizes;
              for (const std::size_t count : level_counts) sizes.push_back(std::to_string(count));
              return sizes;
            }(),
            " × "),
        per_cell, per_cell == 1 ? "" : "s", per_cell > 1 ? "within-cell (seed)" : "residual",
        order < keys.size() ? fmt::format("; interactions of more than {} params pooled into the residual", order)
                            : "");
    return table;
  }
  // The importance estimate: one-way shares per key, joint shares per pair beyond both.
  std::vector<std::vector<std::size_t>> groups(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (level_counts[k] > kMaxDistinct) {
      std::vector<double> numbers;
      bool numeric = true;
      for (const RunSummary* run : runs) {
        const Cell value = value_of(*run, keys[k]);
        if (const auto* integer = std::get_if<std::int64_t>(&value)) {
          numbers.push_back(static_cast<double>(*integer));
        } else if (const auto* real = std::get_if<double>(&value)) {
          numbers.push_back(*real);
        } else {
          numeric = false;
        }
      }
      if (numeric) {
        groups[k] = quantile_bins(numbers, kBins);
        continue;
      }
    }
    for (const Observation& observation : design) groups[k].push_back(observation.levels[k]);
  }
  std::vector<double> main_share(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    main_share[k] = variance_share(groups[k], values);
    table.rows.push_back(
        {Cell{metric}, Cell{keys[k]}, Cell{}, Cell{}, Cell{}, Cell{}, Cell{}, number_or_null(main_share[k])});
  }
  for (std::size_t a = 0; a < keys.size(); ++a) {
    for (std::size_t b = a + 1; b < keys.size(); ++b) {
      std::map<std::pair<std::size_t, std::size_t>, std::size_t> ids;
      std::vector<std::size_t> joint;
      for (std::size_t i = 0; i < runs.size(); ++i)
        joint.push_back(ids.emplace(std::make_pair(groups[a][i], groups[b][i]), ids.size()).first->second);
      const double share = std::max(0.0, variance_share(joint, values) - main_share[a] - main_share[b]);
      table.rows.push_back({Cell{metric}, Cell{keys[a] + " × " + keys[b]}, Cell{}, Cell{}, Cell{}, Cell{}, Cell{},
                            number_or_null(share)});
    }
  }
  table.note = fmt::format(
      "{}: {}: importance estimate, not ANOVA: share = the variance between the groups of runs sharing a param's "
      "value over the total (η², one-way; more than {} distinct values: {} equal-count bins by rank); a pair: its "
      "joint groups' share beyond both main shares (clipped at 0). No F-test: correlated params share credit.",
      metric, balanced ? "one run per value" : "not a full grid with the same number of runs per cell", kMaxDistinct,
      kBins);
  return table;
}

ResultTable effects_of_sweep(const ResultsReader& store, const EffectsQuery& query) {
  if (query.metrics.empty()) throw UsageError("armor db effects needs a --metric");
  for (const std::string& metric : query.metrics) require_known(store, metric, "--metric");
  for (const std::string& key : query.keys) require_known(store, key, "--keys");
  RunFilter filter = query.filter;
  filter.sweep_id = sweep_or_latest(store, filter.sweep_id);
  if (filter.statuses.empty()) filter.statuses = {RunStatus::finished};
  const std::vector<RunSummary> runs = store.find_runs(filter);
  ResultTable out;
  std::vector<std::string> notes;
  for (const std::string& metric : query.metrics) {
    const std::size_t with_metric = static_cast<std::size_t>(
        std::count_if(runs.begin(), runs.end(), [&](const RunSummary& run) { return run.metrics.count(metric) != 0; }));
    if (with_metric < 2) {
      throw UsageError(fmt::format("armor db effects: sweep {} has {} finished run{} with {}; effects need several",
                                   *filter.sweep_id, with_metric, with_metric == 1 ? "" : "s", metric));
    }
    ResultTable table = effects_table(runs, metric, query.keys, query.max_order);
    out.columns = table.columns;
    out.rows.insert(out.rows.end(), table.rows.begin(), table.rows.end());
    notes.push_back(table.note);
  }
  out.note = join(notes, "\n");
  return out;
}

}  // namespace armor::app
