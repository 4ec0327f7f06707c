// armor db curve RUN...: accuracy against eps from the stored robustness curves.

#include "armor/error.h"
#include "armor/query/curve_query.h"
#include "armor/query/run_lookup.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_curve(const std::vector<std::string>& args) {
  DbArgs common;
  CurveQuery query;
  po::options_description visible("options");
  visible.add_options()("metric", po::value(&query.metric),
                        "The attack whose curve to print (eval.curve's metric name; default: every curve)");
  po::variables_map values;
  if (!parse_db_args("armor db curve RUN... [--metric M]", args, visible, common, values)) return kExitOk;
  if (common.positional.empty()) throw UsageError("armor db curve takes one or more run ids");
  query.run_ids = parse_ids(common.positional, "RUN");
  const auto store = open_reader(common.host.db);
  print_table(curve_table(*store, query), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
