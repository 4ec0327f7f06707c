// armor db export: every run with its params and metrics, one row each (csv or json).

#include <cstdio>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/query/list_query.h"
#include "armor/query/run_lookup.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_export(const std::vector<std::string>& args) {
  DbArgs common;
  FilterArgs filter_args;
  std::string output;
  po::options_description visible("options");
  add_filter_options(visible, filter_args);
  visible.add_options()("output,o", po::value(&output), "Write to this file instead of stdout");
  po::variables_map values;
  if (!parse_db_args("armor db export [--format csv|json] [--sweep ID] [--status S] [--where EXPR] [-o FILE]", args,
                     visible, common, values)) {
    return kExitOk;
  }
  require_no_arguments("armor db export", common);
  OutputFormat format = format_of(common);
  if (format == OutputFormat::automatic) format = OutputFormat::csv;
  const auto store = open_reader(common.host.db);
  const ResultTable table = export_runs(*store, filter_of(filter_args, values));
  std::FILE* out = stdout;
  if (!output.empty()) {
    out = std::fopen(output.c_str(), "w");
    if (out == nullptr) throw UsageError("cannot write --output '" + output + "'");
  }
  print_table(table, format, out);
  if (out != stdout) {
    std::fclose(out);
    fmt::print(stderr, "wrote {} runs to {}\n", table.rows.size(), output);
  }
  return kExitOk;
}

}  // namespace armor::app
