#pragma once
// The `armor sweep` subcommands, one file each (core/cli/sweep/<name>.cpp); cmd_sweep.cpp
// dispatches from its table. Each takes the arguments after its name.

#include <string>
#include <vector>

namespace armor::app {

int sweep_work(const std::vector<std::string>& args);
int sweep_resume(const std::vector<std::string>& args);
int sweep_collect(const std::vector<std::string>& args);
int sweep_status(const std::vector<std::string>& args);

}  // namespace armor::app
