// armor db compare RUN RUN...: runs side by side; armor db compare --a EXPR --b EXPR --metric M: two
// settings on runs paired by seed (mean difference, its interval, paired t and Wilcoxon p-values);
// armor db compare --metric-a M --metric-b N: two metrics of the same runs, paired run by run.

#include "armor/error.h"
#include "armor/query/compare_query.h"
#include "armor/query/metrics_compare.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/settings_compare.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {
namespace {

// --sweep-a/--sweep-b: a sweep id, or `none` for the runs recorded outside every sweep.
void set_source(const std::string& text, const std::string& option, std::optional<std::int64_t>& sweep,
                bool& outside_sweeps) {
  if (text == "none") {
    outside_sweeps = true;
    return;
  }
  try {
    sweep = parse_id(text, option);
  } catch (const UsageError&) {
    throw UsageError(option + " takes a sweep id or none (got '" + text + "')");
  }
}

}  // namespace

int db_compare(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  SettingsCompareQuery settings;
  std::string sweep_a;
  std::string sweep_b;
  std::vector<std::string> metric_args;
  std::vector<std::string> metrics_args;
  MetricsCompareQuery two_metrics;
  po::options_description visible("options");
  visible.add_options()("all", "RUN RUN...: show every param, not only those that differ")(
      "a", po::value(&settings.a), "Setting A: a --where expression, e.g. 'trainer.beta = 0'")(
      "b", po::value(&settings.b), "Setting B, compared with A on runs paired by seed: B − A")(
      "sweep-a", po::value(&sweep_a),
      "A is this sweep's runs (with --a: those of them it selects); none: the runs outside sweeps (single runs, "
      "armor eval --new-run's)")("sweep-b", po::value(&sweep_b), "B is this sweep's runs, or none")(
      "metric", po::value(&metric_args)->composing(), "With --a/--b: the metrics to compare (a,b or repeated)")(
      "metrics", po::value(&metrics_args)->composing(), "The same as --metric")(
      "metric-a", po::value(&two_metrics.metric_a), "Metric A of each run, compared with --metric-b run by run")(
      "metric-b", po::value(&two_metrics.metric_b), "Metric B of the same runs: B − A")(
      "by", po::value(&two_metrics.by), "With --metric-a/--metric-b: one row per value of this param");
  add_filter_options(visible, filter_args);
  po::variables_map values;
  if (!parse_db_args("armor db compare RUN RUN... [--all]\n"
                     "       armor db compare --a EXPR --b EXPR --metric M[,M...] [--sweep ID] [--where EXPR]\n"
                     "       armor db compare --sweep-a ID|none --sweep-b ID|none --metric M[,M...]\n"
                     "       armor db compare --metric-a M --metric-b N [--by KEY] [--sweep ID] [--where EXPR]",
                     args, visible, common, values)) {
    return kExitOk;
  }
  const bool by_settings =
      values.count("a") != 0 || values.count("b") != 0 || values.count("sweep-a") != 0 || values.count("sweep-b") != 0;
  const bool by_metrics = values.count("metric-a") != 0 || values.count("metric-b") != 0;
  if (values.count("by") != 0 && !by_metrics)
    throw UsageError("armor db compare: --by goes with --metric-a/--metric-b");
  const auto store = open_reader(common.host.db);
  if (by_metrics) {
    if (by_settings || !common.positional.empty() || !metric_args.empty() || !metrics_args.empty()) {
      throw UsageError(
          "armor db compare: --metric-a/--metric-b compare two metrics of the same runs; give neither run ids, "
          "--a/--b, --sweep-a/--sweep-b nor --metric with them");
    }
    two_metrics.filter = filter_of(filter_args, values);
    print_table(compare_metrics(*store, two_metrics), format_of(common));
    return kExitOk;
  }
  if (by_settings) {
    if (!common.positional.empty())
      throw UsageError("armor db compare: give run ids or --a/--b (or --sweep-a/--sweep-b), not both");
    settings.filter = filter_of(filter_args, values);
    if (values.count("sweep-a") != 0) set_source(sweep_a, "--sweep-a", settings.sweep_a, settings.outside_sweeps_a);
    if (values.count("sweep-b") != 0) set_source(sweep_b, "--sweep-b", settings.sweep_b, settings.outside_sweeps_b);
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
