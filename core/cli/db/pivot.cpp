// armor db pivot: metrics by params (mean ± 95 % interval over the seeds sharing a cell).

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
  std::vector<std::string> row_args;
  std::vector<std::string> col_args;
  std::vector<std::string> metric_args;
  std::vector<std::string> metrics_args;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("rows", po::value(&row_args)->required()->composing(),
                        "Params (or run fields) whose values make the rows: a,b or repeated")(
      "cols", po::value(&col_args)->composing(),
      "Params whose values make the columns: a,b or repeated (none: one column per metric)")(
      "metric", po::value(&metric_args)->composing(),
      "The metrics in the cells (a,b or repeated): the mean over the runs sharing a cell, which may differ "
      "only in their seed, ± its 95 % confidence interval")("metrics", po::value(&metrics_args)->composing(),
                                                            "The same as --metric");
  po::variables_map values;
  if (!parse_db_args("armor db pivot --rows KEY[,KEY...] [--cols KEY[,KEY...]] --metric M[,M2...] "
                     "[--sweep ID (default: the latest)] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db pivot", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  query.rows = split_list(row_args);
  query.cols = split_list(col_args);
  metric_args.insert(metric_args.end(), metrics_args.begin(), metrics_args.end());
  query.metrics = split_list(metric_args);
  const OutputFormat format = format_of(common);
  query.split_stats = format == OutputFormat::csv || format == OutputFormat::json;
  print_table(pivot_runs(*store, query), format);
  return kExitOk;
}

}  // namespace armor::app
