#pragma once
// What every query of runs.db starts with: the database opened, the runs selected as they are now,
// the sweep to look at, and names checked against what the database holds.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::app {

// Opens the results database, which must exist (UsageError naming it otherwise). Mode::query
// migrates an older armor's file first.
std::unique_ptr<ResultsReader> open_reader(const std::string& db);
// The database opened for writing (db rm), which must exist.
std::unique_ptr<RunStore> open_store(const std::string& db);

// The runs `filter` selects as they are now: a run recorded as running whose process is gone (on
// this host) or silent past the heartbeat limit is shown as interrupted, with why; runs.db is not
// written (`armor sweep resume` records it).
std::vector<RunSummary> find_runs_as_they_are(const ResultsReader& store, RunFilter filter);

// The sweep to look at: `given` (StoreError when it is not in the database), else the latest;
// UsageError when there is none.
std::int64_t sweep_or_latest(const ResultsReader& store, std::optional<std::int64_t> given);

// UsageError unless `name` is a run field, param key or metric of `store` (with a suggestion);
// `option` names where it came from ("--rows").
void require_known(const ResultsReader& store, const std::string& name, const std::string& option);

}  // namespace armor::app
