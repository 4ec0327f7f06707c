#pragma once
// A run's values by the names `--where`, `--columns` and `--rows` use: a run field (id, sweep,
// status, overrides, ...), a param key (model.k) or a final metric (clean_acc).

#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/run_store.h"

namespace armor::app {

// `name`'s value for `run`; NULL when the run has none.
Cell value_of(const RunSummary& run, const std::string& name);
Cell to_cell(const ParamValue& value);

std::string join(const std::vector<std::string>& items, const std::string& separator);
// "a,b" and repeated options alike -> {"a", "b"} (spaces around each trimmed, empty ones dropped).
std::vector<std::string> split_list(const std::vector<std::string>& items);

}  // namespace armor::app
