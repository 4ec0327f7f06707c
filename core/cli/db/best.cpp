// armor db best: the run with the best metric, overall or per value of a param.

#include "armor/query/best_query.h"
#include "armor/query/run_lookup.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_best(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  BestQuery query;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("metric", po::value(&query.metric)->required(), "The metric to rank by")(
      "by", po::value(&query.by), "One best run per value of this param")("min", "Lowest is best (default: highest)");
  po::variables_map values;
  if (!parse_db_args("armor db best --metric M [--by KEY] [--min] [--sweep ID] [--where EXPR]", args, visible, common,
                     values)) {
    return kExitOk;
  }
  require_no_arguments("armor db best", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  query.lowest = values.count("min") != 0;
  print_table(best_runs(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
