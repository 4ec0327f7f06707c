// armor db pareto: the runs not dominated on two or three objectives ('-' before one: minimise it).

#include "armor/query/pareto_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_pareto(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  ParetoQuery query;
  std::vector<std::string> metric_args;
  std::vector<std::string> metrics_args;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("metrics", po::value(&metrics_args)->composing(),
                        "Two or three objectives, maximised, or minimised with a leading '-': "
                        "clean_acc,pgd20_acc,-train_seconds (train_seconds: the sum of the epochs' seconds)")(
      "metric", po::value(&metric_args)->composing(), "The same as --metrics")(
      "all", "Every run, with a column saying whether it is on the front");
  po::variables_map values;
  if (!parse_db_args("armor db pareto --metrics M1,M2[,M3] [--sweep ID (default: the latest)] [--all] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db pareto", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  metric_args.insert(metric_args.end(), metrics_args.begin(), metrics_args.end());
  query.objectives = parse_objectives(split_list(metric_args));
  query.all = values.count("all") != 0;
  print_table(pareto_runs(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
