// armor db list: runs with their status, overrides and metrics.

#include "armor/query/list_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_list(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::vector<std::string> columns;
  std::string sort;
  std::size_t limit = 0;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("columns,c", po::value(&columns)->composing(),
                        "Columns to show: run fields (id, sweep, status, overrides, seed, error, ...), param keys, "
                        "metrics (a,b or repeated). Default: id, sweep, status, overrides, every metric, error")(
      "sort", po::value(&sort), "Sort by this column (numbers as numbers; missing values last)")(
      "desc", "Sort descending")("limit", po::value(&limit), "At most this many runs");
  po::variables_map values;
  if (!parse_db_args("armor db list [--sweep ID] [--status S] [--where EXPR] [--columns A,B] [--sort KEY [--desc]]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db list", common);
  const auto store = open_reader(common.host.db);
  ListQuery query;
  query.filter = filter_of(filter_args, values);
  query.filter.order_by = sort;
  query.filter.descending = values.count("desc") != 0;
  query.columns = split_list(columns);
  query.limit = limit;
  print_table(list_runs(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
