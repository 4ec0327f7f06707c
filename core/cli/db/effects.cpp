// armor db effects: how much each swept param (and each pair of them) explains of a metric's variance.

#include "armor/query/effects_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_effects(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  EffectsQuery query;
  std::vector<std::string> metric_args;
  std::vector<std::string> metrics_args;
  std::vector<std::string> key_args;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("metric", po::value(&metric_args)->composing(), "The metrics (a,b or repeated)")(
      "metrics", po::value(&metrics_args)->composing(), "The same as --metric")(
      "keys", po::value(&key_args)->composing(), "The params to explain it by (default: every swept param but seeds)")(
      "order", po::value(&query.max_order),
      "The largest interaction (2: pairs); default all that a grid with seeds allows");
  po::variables_map values;
  if (!parse_db_args("armor db effects --metric M[,M...] [--sweep ID (default: the latest)] [--keys K,K...] "
                     "[--order N] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db effects", common);
  const auto store = open_reader(common.host.db);
  query.filter = filter_of(filter_args, values);
  metric_args.insert(metric_args.end(), metrics_args.begin(), metrics_args.end());
  query.metrics = split_list(metric_args);
  query.keys = split_list(key_args);
  print_table(effects_of_sweep(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
