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

// One factor: a param, or params that vary together.
struct Factor {
  std::vector<std::string> keys;
  std::string name() const { return join(keys, " + "); }
  Cell value(const RunSummary& run) const {
    if (keys.size() == 1) return value_of(run, keys.front());
    std::vector<std::string> parts;
    for (const std::string& key : keys) parts.push_back(cell_text(value_of(run, key)));
    return Cell{join(parts, " / ")};
  }
};

std::size_t distinct_count(const std::vector<const RunSummary*>& runs, const Factor& factor) {
  std::set<Cell, CellLess> distinct;
  for (const RunSummary* run : runs) distinct.insert(factor.value(*run));
  return distinct.size();
}

// Params that vary together cannot be told apart: zipped ones (claim 1's plain / BlockMoE / ConvMoE
// arms are three params with three combinations), or a constrained grid where a combination never
// ran. Two params of at most kMaxDistinct values each vary together when fewer of their
// combinations ran than the product of their value counts; each connected group becomes one factor
// whose levels are the combinations that ran.
std::vector<Factor> factors_of(const std::vector<const RunSummary*>& runs, const std::vector<std::string>& keys) {
  std::vector<std::size_t> group(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) group[k] = k;
  const auto root = [&](std::size_t k) {
    while (group[k] != k) k = group[k];
    return k;
  };
  std::vector<std::size_t> counts;
  for (const std::string& key : keys) counts.push_back(distinct_count(runs, Factor{{key}}));
  for (std::size_t a = 0; a < keys.size(); ++a) {
    for (std::size_t b = a + 1; b < keys.size(); ++b) {
      if (counts[a] > kMaxDistinct || counts[b] > kMaxDistinct) continue;
      if (distinct_count(runs, Factor{{keys[a], keys[b]}}) < counts[a] * counts[b]) group[root(b)] = root(a);
    }
  }
  std::vector<Factor> factors;
  std::map<std::size_t, std::size_t> factor_of_root;
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const auto [at, added] = factor_of_root.emplace(root(k), factors.size());
    if (added) factors.emplace_back();
    factors[at->second].keys.push_back(keys[k]);
  }
  return factors;
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
  // Each factor's levels (distinct values, in order) and each run's level.
  const std::vector<Factor> factors = factors_of(runs, keys);
  std::string merged;
  for (const Factor& factor : factors) {
    if (factor.keys.size() > 1) merged += fmt::format("{}{} vary together", merged.empty() ? "" : "; ", factor.name());
  }
  if (!merged.empty()) {
    merged =
        fmt::format(". {} (not every combination ran): one factor, whose levels are the combinations that ran", merged);
  }
  keys.clear();
  for (const Factor& factor : factors) keys.push_back(factor.name());
  std::vector<std::size_t> level_counts;
  std::vector<Observation> design(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) design[i].value = values[i];
  for (const Factor& factor : factors) {
    std::set<Cell, CellLess> distinct;
    for (const RunSummary* run : runs) distinct.insert(factor.value(*run));
    const std::vector<Cell> levels(distinct.begin(), distinct.end());
    level_counts.push_back(levels.size());
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const Cell value = factor.value(*runs[i]);
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
        "against the {} mean square; share = SS / total SS{}{}",
        metric,
        join(
            [&] {
              std::vector<std::string> sizes;
              for (const std::size_t count : level_counts) sizes.push_back(std::to_string(count));
              return sizes;
            }(),
            " × "),
        per_cell, per_cell == 1 ? "" : "s", per_cell > 1 ? "within-cell (seed)" : "residual",
        order < keys.size() ? fmt::format("; interactions of more than {} params pooled into the residual", order) : "",
        merged);
    return table;
  }
  // The importance estimate: one-way shares per key, joint shares per pair beyond both.
  std::vector<std::vector<std::size_t>> groups(keys.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    if (level_counts[k] > kMaxDistinct) {
      std::vector<double> numbers;
      bool numeric = true;
      for (const RunSummary* run : runs) {
        const Cell value = factors[k].value(*run);
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
      "joint groups' share beyond both main shares (clipped at 0). No F-test: correlated params share credit{}.",
      metric, balanced ? "one run per value" : "not a full grid with the same number of runs per cell", kMaxDistinct,
      kBins, merged);
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
