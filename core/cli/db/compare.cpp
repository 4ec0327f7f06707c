// armor db compare RUN RUN...: runs side by side; armor db compare --a EXPR --b EXPR --metric M: two
// settings on runs paired by seed (mean difference, its interval, paired t and Wilcoxon p-values).

#include "armor/error.h"
#include "armor/query/compare_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/settings_compare.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_compare(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  SettingsCompareQuery settings;
  std::int64_t sweep_a = 0;
  std::int64_t sweep_b = 0;
  std::vector<std::string> metric_args;
  std::vector<std::string> metrics_args;
  po::options_description visible("options");
  visible.add_options()("all", "RUN RUN...: show every param, not only those that differ")(
      "a", po::value(&settings.a), "Setting A: a --where expression, e.g. 'trainer.beta = 0'")(
      "b", po::value(&settings.b), "Setting B, compared with A on runs paired by seed: B − A")(
      "sweep-a", po::value(&sweep_a), "A is this sweep's runs (with --a: those of them it selects)")(
      "sweep-b", po::value(&sweep_b), "B is this sweep's runs")(
      "metric", po::value(&metric_args)->composing(), "With --a/--b: the metrics to compare (a,b or repeated)")(
      "metrics", po::value(&metrics_args)->composing(), "The same as --metric");
  add_filter_options(visible, filter_args);
  po::variables_map values;
  if (!parse_db_args("armor db compare RUN RUN... [--all]\n"
                     "       armor db compare --a EXPR --b EXPR --metric M[,M...] [--sweep ID] [--where EXPR]\n"
                     "       armor db compare --sweep-a ID --sweep-b ID --metric M[,M...]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const bool by_settings =
      values.count("a") != 0 || values.count("b") != 0 || values.count("sweep-a") != 0 || values.count("sweep-b") != 0;
  const auto store = open_reader(common.host.db);
  if (by_settings) {
    if (!common.positional.empty())
      throw UsageError("armor db compare: give run ids or --a/--b (or --sweep-a/--sweep-b), not both");
    settings.filter = filter_of(filter_args, values);
    if (values.count("sweep-a") != 0) settings.sweep_a = sweep_a;
    if (values.count("sweep-b") != 0) settings.sweep_b = sweep_b;
    metric_args.insert(metric_args.end(), metrics_args.begin(), metrics_args.end());
    settings.metrics = split_list(metric_args);
    print_table(compare_settings(*store, settings), format_of(common));
    return kExitOk;
  }
  if (common.positional.size() < 2)
    throw UsageError("armor db compare takes two or more run ids, or two settings (--a EXPR --b EXPR --metric M)");
  CompareQuery query;
  query.run_ids = parse_ids(common.positional, "RUN");
  query.all_params = values.count("all") != 0;
  print_table(compare_runs(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
