// armor: the host program. `armor --help` lists the subcommands; each has its own --help.

#include <iostream>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/host/run_side.h"
#include "armor/util/host_allocator.h"
#include "armor/util/suggest.h"
#include "command.h"
#include "global_options.h"

#ifndef ARMOR_VERSION
#define ARMOR_VERSION "0"
#endif

namespace {

void print_usage() {
  fmt::print("armor {}: experiment runner for adversarially robust Mixture-of-Experts classifiers\n\n", ARMOR_VERSION);
  fmt::print("usage: armor [shared options] <command> [options]   (armor <command> --help for each)\n\ncommands:\n");
  for (const auto& command : armor::app::commands()) {
    if (!command.hidden) fmt::print("  {:<9} {}\n", command.name, command.summary);
  }
  std::string shared;
  for (const auto& option : armor::app::shared_options()) shared += (shared.empty() ? "" : ", ") + option;
  fmt::print("\nshared options ({}) may come before the command too: armor --db x.db db list\n", shared);
  fmt::print("\nexit codes: 0 success, 1 a run or the results database failed, 2 bad usage, config or plugin\n");
}

int dispatch(int argc, char** argv) {
  using namespace armor;
  if (argc < 2) {
    print_usage();
    return app::kExitUsage;
  }
  const app::CommandLine line = app::split_command_line(std::vector<std::string>(argv + 1, argv + argc));
  if (line.help) {
    print_usage();
    return app::kExitOk;
  }
  if (line.version) {
    fmt::print("armor {} ({})\n", ARMOR_VERSION, build_revision());
    return app::kExitOk;
  }
  std::vector<std::string> names;
  for (const auto& command : app::commands()) {
    if (line.command == command.name) return command.handler(line.args);
    if (!command.hidden) names.emplace_back(command.name);
  }
  throw UsageError("unknown command '" + line.command + "'" + did_you_mean(line.command, names) + "; see armor --help");
}

}  // namespace

int main(int argc, char** argv) {
  armor::keep_freed_memory_in_heap();  // before the first tensor (armor/util/host_allocator.h)
  try {
    return dispatch(argc, argv);
  } catch (const armor::UsageError& error) {
    fmt::print(stderr, "armor: usage error: {}\n", error.what());
    return armor::app::kExitUsage;
  } catch (const armor::ConfigError& error) {
    fmt::print(stderr, "armor: config error: {}\n", error.what());
    return armor::app::kExitUsage;
  } catch (const armor::PluginError& error) {
    fmt::print(stderr, "armor: plugin error: {}\n", error.what());
    return armor::app::kExitUsage;
  } catch (const armor::IdentityError& error) {
    fmt::print(stderr, "armor: refused: {}\n", error.what());
    return armor::app::kExitUsage;
  } catch (const armor::StoreError& error) {
    fmt::print(stderr, "armor: results database error: {}\n", error.what());
    return armor::app::kExitFailed;
  } catch (const std::exception& error) {
    fmt::print(stderr, "armor: error: {}\n", armor::describe_error(error));
    return armor::app::kExitFailed;
  }
}
