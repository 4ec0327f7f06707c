#include "sweep/support.h"

#include "armor/error.h"
#include "armor/launch/slurm_launcher.h"
#include "armor/store/run_store.h"

namespace armor::app {

bool parse_sweep_args(const std::string& usage, const std::vector<std::string>& args, po::options_description& visible,
                      std::int64_t& sweep_id, po::variables_map& values) {
  std::vector<std::string> positional_args;
  po::options_description hidden;
  hidden.add_options()("args", po::value(&positional_args)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  if (!parse_command_line(usage, args, visible, hidden, positional, values)) return false;
  if (positional_args.size() != 1)
    throw UsageError("expected `" + usage.substr(0, usage.find(" SWEEP_ID")) + " SWEEP_ID`");
  try {
    std::size_t used = 0;
    sweep_id = std::stoll(positional_args[0], &used);
    if (used != positional_args[0].size()) throw std::invalid_argument(positional_args[0]);
  } catch (const std::exception&) {
    throw UsageError("SWEEP_ID must be a number (got '" + positional_args[0] + "')");
  }
  return true;
}

int execute_sweep(RunStore& store, std::int64_t sweep_id, const LaunchArgs& launch, const SlurmOptions& slurm) {
  if (slurm.enabled()) {
    submit_sweep(store, sweep_id, launch.resolved(), slurm);
    if (slurm.wait) return wait_for_sweep(store, sweep_id, slurm, launch.host.db);
    return kExitOk;
  }
  const LaunchSummary summary = work_on_sweep(store, sweep_id, launch.resolved());
  return finish_sweep_and_report(store, sweep_id, summary, launch.host.db);
}

}  // namespace armor::app
