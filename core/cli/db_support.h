#pragma once
// What the `armor db` subcommands share: their common options (--db, --format), opening the store,
// reading a run's value by name, and summary statistics.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "command.h"
#include "armor/report/result_table.h"

namespace armor::app {

struct DbArgs {
  HostOptions host;
  std::string format = "auto";
  std::vector<std::string> positional;  // the arguments that are not options
};

// Parses a db subcommand's arguments with `visible` plus --db, --format and --help. Returns false
// after printing help.
bool parse_db_args(const std::string& usage, const std::vector<std::string>& args, po::options_description& visible,
                   DbArgs& common, po::variables_map& values);

OutputFormat format_of(const DbArgs& common);

// --sweep, --status, --where: which runs a subcommand looks at.
struct FilterArgs {
  std::int64_t sweep = 0;
  std::vector<std::string> statuses;
  std::string where;
};
void add_filter_options(po::options_description& options, FilterArgs& filter);
RunFilter filter_of(const FilterArgs& filter, const po::variables_map& values);

// Opens the results database, which must exist: to read (ResultsReader::Mode::query migrates an
// older armor's file first, then reads only), or to write (`armor db rm`).
std::unique_ptr<ResultsReader> open_reader(const HostOptions& host);
std::unique_ptr<RunStore> open_store(const HostOptions& host);

// The runs `filter` selects as they are now: a run recorded as running whose process is gone (on
// this host) or silent past the heartbeat limit is shown as interrupted, with why; runs.db is not
// written (`armor sweep resume` records it).
std::vector<RunSummary> find_runs_as_they_are(const ResultsReader& store, RunFilter filter);

// "12" -> 12; UsageError naming `what` otherwise.
std::int64_t parse_id(const std::string& text, const std::string& what);

// The sweep to look at: the one given, else the latest; UsageError when there is none.
std::int64_t sweep_or_latest(const ResultsReader& store, const po::variables_map& values, std::int64_t given);

// A run's value by name, as --where names it: a run field (id, sweep, status, ...), a param key
// (model.k) or a metric (clean_acc). NULL when the run has none.
Cell value_of(const RunSummary& run, const std::string& name);
Cell to_cell(const ParamValue& value);

// UsageError unless `name` is a run field, param key or metric of `store` (with a suggestion).
void require_known(const ResultsReader& store, const std::string& name, const std::string& option);

std::string join(const std::vector<std::string>& items, const std::string& separator);
// "a,b" and repeated options alike -> {"a", "b"}.
std::vector<std::string> split_list(const std::vector<std::string>& items);

// Mean, sample standard deviation (0 for one value) and count of the finite values.
struct Stats {
  double mean = 0;
  double std = 0;
  int count = 0;
};
Stats stats_of(const std::vector<double>& values);

// A metric grouped by the values of two names (col_name "" = a single column), ready for a pivot
// table, a heat map or a line plot. Runs without the metric are left out.
struct Pivot {
  std::vector<Cell> row_values;  // sorted (cell_less)
  std::vector<Cell> col_values;
  std::map<Cell, std::map<Cell, std::vector<double>, CellLess>, CellLess> values;

  Stats stats(const Cell& row, const Cell& col) const;
};
Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric);

}  // namespace armor::app
