// armor db list [--sweep N] [--status S] | armor db sql "SELECT ...": read-only views of runs.db.

#include <filesystem>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/store/run_store.h"
#include "command.h"

namespace armor::app {
namespace {

int list_runs(const RunStore& store, std::optional<std::int64_t> sweep, std::optional<RunStatus> status) {
  std::vector<std::vector<std::string>> rows;
  for (const RunRecord& run : store.runs(sweep, status)) {
    std::string overrides;
    for (const auto& o : run.overrides) overrides += (overrides.empty() ? "" : " ") + o;
    std::string metrics;
    for (const auto& [key, value] : store.metrics(run.id)) {
      metrics += fmt::format("{}{}={:.4f}", metrics.empty() ? "" : " ", key, value);
    }
    rows.push_back({std::to_string(run.id), run.sweep_id ? std::to_string(*run.sweep_id) : "-", to_string(run.status),
                    run.experiment, overrides, metrics.empty() ? run.error : metrics});
  }
  print_table({"id", "sweep", "status", "experiment", "overrides", "metrics / error"}, rows);
  return kExitOk;
}

}  // namespace

int db_command(const std::vector<std::string>& args) {
  HostOptions host;
  std::vector<std::string> positional_args;
  std::int64_t sweep = 0;
  std::string status;
  po::options_description visible("options");
  add_db_option(visible, host);
  visible.add_options()("sweep", po::value(&sweep), "list: only the runs of this sweep id")(
      "status", po::value(&status), "list: only runs with this status (pending, running, finished, failed)");
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional_args)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  po::variables_map values;
  if (!parse_command_line("armor db list [--sweep ID] [--status S] [--db PATH]\n"
                          "       armor db sql \"SELECT ...\" [--db PATH]   (read-only; schema in README)",
                          args, visible, hidden, positional, values)) {
    return kExitOk;
  }
  if (positional_args.empty()) throw UsageError("expected `armor db list` or `armor db sql \"SELECT ...\"`");
  if (!std::filesystem::exists(host.db)) {
    throw UsageError("no results database at '" + host.db + "' (run an experiment first, or pass --db PATH)");
  }
  const RunStore store(host.db, RunStore::Mode::read_only);
  const std::string& action = positional_args[0];
  if (action == "list" && positional_args.size() == 1) {
    return list_runs(store, values.count("sweep") != 0 ? std::optional<std::int64_t>(sweep) : std::nullopt,
                     values.count("status") != 0 ? std::optional<RunStatus>(run_status_from_string(status)) : std::nullopt);
  }
  if (action == "sql" && positional_args.size() == 2) {
    const QueryResult result = store.query(positional_args[1]);
    print_table(result.columns, result.rows);
    return kExitOk;
  }
  throw UsageError("expected `armor db list` or `armor db sql \"SELECT ...\"` (got '" + action + "')");
}

}  // namespace armor::app
