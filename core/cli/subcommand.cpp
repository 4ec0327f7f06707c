#include "subcommand.h"

#include "armor/error.h"
#include "armor/util/suggest.h"
#include "command.h"

namespace armor::app {

int dispatch_subcommand(const std::string& command, const std::vector<Subcommand>& table,
                        const std::vector<std::string>& args, void (*print_usage)()) {
  if (args.empty()) {
    print_usage();
    return kExitUsage;
  }
  const std::string& name = args.front();
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage();
    return kExitOk;
  }
  std::vector<std::string> names;
  for (const auto& subcommand : table) {
    if (name == subcommand.name) return subcommand.handler(std::vector<std::string>(args.begin() + 1, args.end()));
    names.emplace_back(subcommand.name);
  }
  if (!name.empty() && name[0] == '-') {
    throw UsageError(command + " needs a subcommand before its options (got '" + name + "'); see " + command +
                     " --help");
  }
  const std::string kind = command.substr(command.find(' ') + 1);
  throw UsageError("unknown " + kind + " subcommand '" + name + "'" + did_you_mean(name, names) + "; see " + command +
                   " --help");
}

}  // namespace armor::app
