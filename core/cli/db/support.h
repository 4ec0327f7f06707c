#pragma once
// What the `armor db` subcommands share on the command line: --db, --format, --help, the filter
// options (--sweep, --status, --where) and run ids. What each one computes is the host's
// (armor/query/..., armor/report/plot_query.h).

#include <cstdint>
#include <string>
#include <vector>

#include "armor/report/result_table.h"
#include "armor/store/run_store.h"
#include "command.h"

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

// UsageError unless the subcommand got no positional argument.
void require_no_arguments(const std::string& command, const DbArgs& common);

// --sweep, --status, --where: which runs a subcommand looks at.
struct FilterArgs {
  std::int64_t sweep = 0;
  std::vector<std::string> statuses;
  std::string where;
};
void add_filter_options(po::options_description& options, FilterArgs& filter);
RunFilter filter_of(const FilterArgs& filter, const po::variables_map& values);

// "12" -> 12; UsageError naming `what` otherwise.
std::int64_t parse_id(const std::string& text, const std::string& what);
std::vector<std::int64_t> parse_ids(const std::vector<std::string>& texts, const std::string& what);

}  // namespace armor::app
