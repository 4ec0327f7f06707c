// armor db show RUN: one run in full.

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/query/run_lookup.h"
#include "armor/query/show_query.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_show(const std::vector<std::string>& args) {
  DbArgs common;
  po::options_description visible("options");
  visible.add_options()("config", "Also print the resolved config (TOML)");
  po::variables_map values;
  if (!parse_db_args("armor db show RUN [--config]", args, visible, common, values)) return kExitOk;
  if (common.positional.size() != 1) throw UsageError("armor db show takes one run id");
  const std::int64_t run_id = parse_id(common.positional[0], "RUN");
  const auto store = open_reader(common.host.db);
  const RunDetails details = show_run(*store, run_id);
  print_sections(details.sections, format_of(common));
  if (values.count("config") != 0) fmt::print("\nconfig\n{}", details.config);
  return kExitOk;
}

}  // namespace armor::app
