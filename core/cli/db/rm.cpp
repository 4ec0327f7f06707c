// armor db rm RUN... | armor db rm --sweep ID: runs or a sweep removed, with their output folders.

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/query/removal.h"
#include "armor/query/run_lookup.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_rm(const std::vector<std::string>& args) {
  DbArgs common;
  std::int64_t sweep = 0;
  RemovalQuery query;
  po::options_description visible("options");
  visible.add_options()("sweep", po::value(&sweep), "Remove this sweep and all its runs")(
      "yes,y", "Do not ask for confirmation")("keep-files", "Keep the runs' output folders");
  po::variables_map values;
  if (!parse_db_args("armor db rm RUN... | armor db rm --sweep ID   [--yes] [--keep-files]", args, visible, common,
                     values)) {
    return kExitOk;
  }
  if (values.count("sweep") != 0) query.sweep = sweep;
  if (query.sweep.has_value() == !common.positional.empty()) {
    throw UsageError("armor db rm takes run ids or --sweep ID (one of them)");
  }
  query.run_ids = parse_ids(common.positional, "RUN");
  query.keep_files = values.count("keep-files") != 0;

  auto store = open_store(common.host.db);
  const RemovalPlan plan = plan_removal(store->reader(), query);
  if (values.count("yes") == 0) {
    if (::isatty(STDIN_FILENO) == 0)
      throw UsageError("armor db rm would remove " + plan.description + ": confirm with --yes");
    fmt::print("remove {} from {}? [y/N] ", plan.description, store->path());
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "yes") {
      fmt::print("nothing removed\n");
      return kExitFailed;
    }
  }
  for (const std::string& note : carry_out_removal(*store, plan)) fmt::print(stderr, "armor: {}\n", note);
  fmt::print("removed {}\n", plan.description);
  return kExitOk;
}

}  // namespace armor::app
