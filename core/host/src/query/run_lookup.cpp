#include "armor/query/run_lookup.h"

#include "armor/launch/process_liveness.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "armor/error.h"
#include "armor/launch/local_launcher.h"
#include "armor/util/suggest.h"

namespace armor::app {

namespace {
void require_database(const std::string& db) {
  if (!std::filesystem::exists(db)) {
    throw UsageError("no results database at '" + db + "' (run an experiment first, or pass --db PATH)");
  }
}
}  // namespace

std::unique_ptr<ResultsReader> open_reader(const std::string& db) {
  require_database(db);
  return std::make_unique<ResultsReader>(db, ResultsReader::Mode::query);
}

std::unique_ptr<RunStore> open_store(const std::string& db) {
  require_database(db);
  return std::make_unique<RunStore>(db);
}

std::vector<RunSummary> find_runs_as_they_are(const ResultsReader& store, RunFilter filter) {
  const std::vector<RunStatus> wanted = filter.statuses;
  const auto wants = [&](RunStatus status) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), status) != wanted.end();
  };
  // A dead run is still 'running' in runs.db: fetch those too when interrupted ones are asked for.
  if (!wanted.empty() && wants(RunStatus::interrupted) && !wants(RunStatus::running)) {
    filter.statuses.push_back(RunStatus::running);
  }
  std::vector<RunSummary> runs = store.find_runs(filter);
  std::map<std::int64_t, std::string> dead;
  for (auto& [id, why] :
       store.dead_runs(filter.sweep_id, local_process_liveness(local_host_name(), kStaleAfterSeconds)))
    dead[id] = why;
  std::vector<RunSummary> shown;
  for (RunSummary& run : runs) {
    const auto it = dead.find(run.run.id);
    if (it != dead.end()) {
      run.run.status = RunStatus::interrupted;
      run.run.error = it->second + " (not yet recorded: `armor sweep resume` does)";
    }
    if (wants(run.run.status)) shown.push_back(std::move(run));
  }
  return shown;
}

std::int64_t sweep_or_latest(const ResultsReader& store, std::optional<std::int64_t> given) {
  if (given) {
    store.sweep(*given);  // names a missing sweep
    return *given;
  }
  const auto latest = store.latest_sweep_id();
  if (!latest) throw UsageError(store.path() + " has no sweep yet (run one with `armor run ... --multirun`)");
  return *latest;
}

void require_known(const ResultsReader& store, const std::string& name, const std::string& option) {
  const std::vector<std::string> known = store.known_names();
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    throw UsageError(option + ": " + store.path() + " has no run field, param or metric '" + name + "'" +
                     did_you_mean(name, known));
  }
}

}  // namespace armor::app
