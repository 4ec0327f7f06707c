// armor db pivot: a metric by two params (mean ± std over the runs sharing a cell).

#include "armor/query/pivot_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_pivot(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  PivotQuery query;
  std::vector<std::string> metric_args;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&query.rows)->required(), "Param (or run field) whose values are the rows")(
      "cols", po::value(&query.cols), "Param whose values are the columns (none: one column per metric)")(
      "metric", po::value(&metric_args)->required()->composing(),
      "The metric in the cells: mean ± std over the runs that share one. Without --cols, several "
      "(repeated or a,b,c) give one column each");
  po::variables_map values;
  if (!parse_db_args(
          "armor db pivot --rows KEY [--cols KEY] --metric M[,M2...] [--sweep ID (default: the latest)] [--where EXPR]",
          args, visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db pivot", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  query.metrics = split_list(metric_args);
  const OutputFormat format = format_of(common);
  query.split_stats = format == OutputFormat::csv || format == OutputFormat::json;
  print_table(pivot_runs(*store, query), format);
  return kExitOk;
}

}  // namespace armor::app
