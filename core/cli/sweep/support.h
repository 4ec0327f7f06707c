#pragma once
// What the `armor sweep` subcommands share: the SWEEP_ID argument, and executing a sweep's pending
// runs with the launcher the command line chose.

#include <cstdint>
#include <string>
#include <vector>

#include "command.h"
#include "launch_args.h"

namespace armor {
class RunStore;
}

namespace armor::app {

// Parses `args` with `visible` and one positional SWEEP_ID; false after printing help.
bool parse_sweep_args(const std::string& usage, const std::vector<std::string>& args, po::options_description& visible,
                      std::int64_t& sweep_id, po::variables_map& values);

// The local launcher (`jobs` at a time) or, with --launcher slurm, one job array (and --wait);
// then the sweep's end as finish_sweep_and_report prints it. The exit code.
int execute_sweep(RunStore& store, std::int64_t sweep_id, const LaunchArgs& launch, const SlurmOptions& slurm);

}  // namespace armor::app
