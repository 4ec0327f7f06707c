#pragma once
// A metric grouped by the values of some names (row keys × column keys), ready for a pivot table, a
// heat map or a line plot; the swept params, and those that vary inside a group (what makes a
// group's mean an average over something other than seeds); the summary statistics of a group.

#include <map>
#include <string>
#include <vector>

#include "armor/query/statistics.h"
#include "armor/report/result_table.h"
#include "armor/store/run_store.h"

namespace armor::app {

// Mean, sample standard deviation (0 for one value) and count of the finite values.
struct Stats {
  double mean = 0;
  double std = 0;
  int count = 0;
};
Stats stats_of(const std::vector<double>& values);

// True for the keys that name a seed (`seed`, `run.seed`, `data.seed`): repeats, not swept settings.
bool is_seed_key(const std::string& key);

// The params whose value differs between `runs`, in config order, `except` and seeds left out:
// runs that differ only in their seed are repeats, averaged.
std::vector<std::string> varying_params(const std::vector<RunSummary>& runs, const std::string& except = "");

// Several names' values, e.g. (trainer.beta, model.k) = (3, 1), ordered name by name with cell_less.
using CellKey = std::vector<Cell>;
struct CellKeyLess {
  bool operator()(const CellKey& a, const CellKey& b) const;
};
CellKey key_of(const RunSummary& run, const std::vector<std::string>& names);
// "model.k=1, trainer.beta=3" ("" for no names).
std::string key_text(const std::vector<std::string>& names, const CellKey& values);

// A metric's values by (row key, column key); no column keys = a single column. Runs without the
// metric are left out.
struct Pivot {
  std::vector<std::string> row_names;
  std::vector<std::string> col_names;
  std::vector<CellKey> row_values;  // sorted (CellKeyLess)
  std::vector<CellKey> col_values;
  std::map<CellKey, std::map<CellKey, std::vector<double>, CellKeyLess>, CellKeyLess> values;

  // Mean, sd, n and 95 % Student-t interval of a cell (n = 0 for an empty one).
  Summary summary(const CellKey& row, const CellKey& col) const;
  // The old single-key interface: mean, std (0 for one value), count.
  Stats stats(const CellKey& row, const CellKey& col) const;
};
Pivot pivot_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& row_names,
               const std::vector<std::string>& col_names, const std::string& metric);
// One row name and one column name ("" = a single column).
Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric);

// The swept params (varying_params of `runs`) not in `names` whose value differs between two runs
// that share the values of `names`: a group's mean over them would average over that setting, not
// only over seeds. Each with its values: "model.num_experts (2, 4)".
std::vector<std::string> varying_within_groups(const std::vector<RunSummary>& runs,
                                               const std::vector<std::string>& names);

// `runs` split by the values of `keys` (every run in one facet when there are none), in key order.
struct Facet {
  CellKey values;
  std::string title;  // key_text(keys, values)
  std::vector<RunSummary> runs;
};
std::vector<Facet> facets_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& keys);

}  // namespace armor::app
