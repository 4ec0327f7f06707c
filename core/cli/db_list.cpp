// armor db list | armor db export: runs, one row each.

#include <fmt/core.h>

#include <cstdio>
#include <set>

#include "armor/error.h"
#include "db_subcommands.h"
#include "db_support.h"

namespace armor::app {
namespace {

// Every metric key among `runs`, sorted.
std::vector<std::string> metric_keys(const std::vector<RunSummary>& runs) {
  std::set<std::string> keys;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.metrics) keys.insert(entry.first);
  }
  return {keys.begin(), keys.end()};
}

// Every param key among `runs`, in the order they first appear (config order).
std::vector<std::string> param_keys(const std::vector<RunSummary>& runs) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const RunSummary& run : runs) {
    for (const auto& entry : run.params) {
      if (seen.insert(entry.first).second) keys.push_back(entry.first);
    }
  }
  return keys;
}

ResultTable table_of(const std::vector<RunSummary>& runs, const std::vector<std::string>& columns) {
  ResultTable table;
  table.columns = columns;
  for (const RunSummary& run : runs) {
    std::vector<Cell> row;
    for (const std::string& column : columns) row.push_back(value_of(run, column));
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace

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
  if (!common.positional.empty()) throw UsageError("armor db list takes no arguments (got '" + common.positional[0] + "')");
  const auto store = open_reader(common.host);
  RunFilter filter = filter_of(filter_args, values);
  filter.order_by = sort;
  filter.descending = values.count("desc") != 0;
  std::vector<RunSummary> runs = find_runs_as_they_are(*store, filter);
  if (limit != 0 && runs.size() > limit) runs.resize(limit);

  columns = split_list(columns);
  if (columns.empty()) {
    columns = {"id", "sweep", "status", "overrides"};
    for (const std::string& key : metric_keys(runs)) columns.push_back(key);
    for (const RunSummary& run : runs) {
      if (!run.run.error.empty()) {
        columns.emplace_back("error");
        break;
      }
    }
  } else {
    const std::vector<std::string> known = store->known_names();
    for (const std::string& column : columns) {
      if (column != "overrides" && std::find(known.begin(), known.end(), column) == known.end()) {
        throw UsageError("--columns: unknown column '" + column + "' (a run field, param key or metric)");
      }
    }
  }
  print_table(table_of(runs, columns), format_of(common));
  return kExitOk;
}

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
  if (!common.positional.empty()) throw UsageError("armor db export takes no arguments (got '" + common.positional[0] + "')");
  OutputFormat format = format_of(common);
  if (format == OutputFormat::automatic) format = OutputFormat::csv;
  const auto store = open_reader(common.host);
  const std::vector<RunSummary> runs = find_runs_as_they_are(*store, filter_of(filter_args, values));

  std::vector<std::string> columns{"id",       "sweep",       "idx",        "status",      "experiment",
                                   "overrides", "config_hash", "seed",       "revision",    "host",
                                   "created_at", "started_at", "finished_at", "error",      "output_dir"};
  for (const std::string& key : param_keys(runs)) columns.push_back(key);
  for (const std::string& key : metric_keys(runs)) columns.push_back(key);

  std::FILE* out = stdout;
  if (!output.empty()) {
    out = std::fopen(output.c_str(), "w");
    if (out == nullptr) throw UsageError("cannot write --output '" + output + "'");
  }
  print_table(table_of(runs, columns), format, out);
  if (out != stdout) {
    std::fclose(out);
    fmt::print(stderr, "wrote {} runs to {}\n", runs.size(), output);
  }
  return kExitOk;
}

}  // namespace armor::app
