// armor db compare RUN RUN...: runs side by side.

#include "armor/error.h"
#include "armor/query/compare_query.h"
#include "armor/query/run_lookup.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_compare(const std::vector<std::string>& args) {
  DbArgs common;
  po::options_description visible("options");
  visible.add_options()("all", "Show every param, not only those that differ");
  po::variables_map values;
  if (!parse_db_args("armor db compare RUN RUN... [--all]", args, visible, common, values)) return kExitOk;
  if (common.positional.size() < 2) throw UsageError("armor db compare takes two or more run ids");
  CompareQuery query;
  query.run_ids = parse_ids(common.positional, "RUN");
  query.all_params = values.count("all") != 0;
  const auto store = open_reader(common.host.db);
  print_table(compare_runs(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
