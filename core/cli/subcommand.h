#pragma once
// Commands with subcommands (`armor db`, `armor sweep`, `armor db plot`): one table each of
// {name, summary, handler}, dispatched the same way, with "did you mean" on a typo.

#include <string>
#include <vector>

namespace armor::app {

struct Subcommand {
  const char* name;
  const char* summary;
  int (*handler)(const std::vector<std::string>& args);
};

// Runs the subcommand `args` names with the arguments after its name. No arguments: the usage and
// kExitUsage; --help, -h or help: the usage and kExitOk. UsageError for an unknown name, or an
// option where the name belongs. `command` is "armor db", "armor sweep", ...
int dispatch_subcommand(const std::string& command, const std::vector<Subcommand>& table,
                        const std::vector<std::string>& args, void (*print_usage)());

}  // namespace armor::app
