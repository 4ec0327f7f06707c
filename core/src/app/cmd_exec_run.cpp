// armor _exec-run --db PATH --run ID: executes one recorded run in this process (launched by
// `armor run`, one process per run). The run's recorded config is what runs, exactly.

#include <fmt/core.h>

#include "armor/config/config.h"
#include "armor/error.h"
#include "armor/run/experiment.h"
#include "armor/run/run_executor.h"
#include "armor/store/run_store.h"
#include "command.h"

namespace armor::app {

int exec_run_command(const std::vector<std::string>& args) {
  HostOptions host;
  std::int64_t run_id = 0;
  po::options_description visible("options");
  add_db_option(visible, host);
  add_plugin_path_option(visible, host);
  visible.add_options()("run", po::value(&run_id)->required(), "Id of the pending run to execute");
  po::variables_map values;
  if (!parse_command_line("armor _exec-run --db PATH --run ID", args, visible, po::options_description(),
                          po::positional_options_description(), values)) {
    return kExitOk;
  }
  RunStore store(host.db);
  const RunRecord record = store.run(run_id);
  if (record.status != RunStatus::pending) {
    throw UsageError(fmt::format("run {} is {}, not pending", run_id, to_string(record.status)));
  }
  try {
    const Registry& registry = load_registry(host);
    const Experiment experiment = resolve_experiment(Config::parse(record.config, fmt::format("run {} config", run_id)), registry);
    execute_run(experiment, registry, store, run_id);
  } catch (const std::exception& error) {
    store.fail_run(run_id, error.what());
    fmt::print(stderr, "armor: run {} failed: {}\n", run_id, error.what());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace armor::app
