#include "armor/query/pivot.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "armor/query/run_values.h"

namespace armor::app {

Stats stats_of(const std::vector<double>& values) {
  const Summary summary = summarize(values);
  Stats stats;
  stats.count = static_cast<int>(summary.n);
  if (summary.n == 0) return stats;
  stats.mean = summary.mean;
  stats.std = summary.n > 1 ? summary.sd : 0;
  return stats;
}

bool is_seed_key(const std::string& key) {
  return key == "seed" || (key.size() > 5 && key.compare(key.size() - 5, 5, ".seed") == 0);
}

std::vector<std::string> varying_params(const std::vector<RunSummary>& runs, const std::string& except) {
  std::vector<std::string> keys;
  std::map<std::string, std::set<Cell, CellLess>> seen;
  for (const RunSummary& run : runs) {
    for (const auto& [key, value] : run.params) {
      if (seen[key].empty()) keys.push_back(key);
      seen[key].insert(to_cell(value));
    }
  }
  std::vector<std::string> varying;
  for (const std::string& key : keys) {
    if (key != except && !is_seed_key(key) && seen[key].size() > 1) varying.push_back(key);
  }
  return varying;
}

bool CellKeyLess::operator()(const CellKey& a, const CellKey& b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), CellLess());
}

CellKey key_of(const RunSummary& run, const std::vector<std::string>& names) {
  CellKey key;
  for (const std::string& name : names) key.push_back(value_of(run, name));
  return key;
}

std::string key_text(const std::vector<std::string>& names, const CellKey& values) {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i)
    parts.push_back(names[i] + "=" + cell_text(values[i]));
  return join(parts, ", ");
}

Summary Pivot::summary(const CellKey& row, const CellKey& col) const {
  const auto found_row = values.find(row);
  if (found_row == values.end()) return summarize({});
  const auto found = found_row->second.find(col);
  return found == found_row->second.end() ? summarize({}) : summarize(found->second);
}

Stats Pivot::stats(const CellKey& row, const CellKey& col) const {
  const auto found_row = values.find(row);
  if (found_row == values.end()) return Stats{};
  const auto found = found_row->second.find(col);
  return found == found_row->second.end() ? Stats{} : stats_of(found->second);
}

Pivot pivot_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& row_names,
               const std::vector<std::string>& col_names, const std::string& metric) {
  Pivot pivot;
  pivot.row_names = row_names;
  pivot.col_names = col_names;
  std::set<CellKey, CellKeyLess> rows;
  std::set<CellKey, CellKeyLess> cols;
  for (const RunSummary& run : runs) {
    const auto found = run.metrics.find(metric);
    if (found == run.metrics.end()) continue;
    const CellKey row = key_of(run, row_names);
    const CellKey col = key_of(run, col_names);
    rows.insert(row);
    cols.insert(col);
    pivot.values[row][col].push_back(found->second);
  }
  pivot.row_values.assign(rows.begin(), rows.end());
  pivot.col_values.assign(cols.begin(), cols.end());
  return pivot;
}

Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric) {
  return pivot_of(runs, std::vector<std::string>{row_name},
                  col_name.empty() ? std::vector<std::string>{} : std::vector<std::string>{col_name}, metric);
}

std::vector<std::string> varying_within_groups(const std::vector<RunSummary>& runs,
                                               const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& key : varying_params(runs)) {
    if (std::find(names.begin(), names.end(), key) != names.end()) continue;
    std::map<CellKey, std::set<Cell, CellLess>, CellKeyLess> by_group;
    for (const RunSummary& run : runs) by_group[key_of(run, names)].insert(value_of(run, key));
    std::set<Cell, CellLess> values;
    bool varies = false;
    for (const auto& [group, seen] : by_group) {
      varies = varies || seen.size() > 1;
      values.insert(seen.begin(), seen.end());
    }
    if (!varies) continue;
    std::vector<std::string> texts;
    for (const Cell& value : values) texts.push_back(cell_text(value));
    out.push_back(key + " (" + join(texts, ", ") + ")");
  }
  return out;
}

std::vector<Facet> facets_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& keys) {
  std::map<CellKey, std::vector<RunSummary>, CellKeyLess> groups;
  for (const RunSummary& run : runs) groups[key_of(run, keys)].push_back(run);
  std::vector<Facet> facets;
  for (auto& [values, members] : groups) facets.push_back(Facet{values, key_text(keys, values), std::move(members)});
  return facets;
}

}  // namespace armor::app
