#include "db/support.h"

#include <cstdlib>

#include "armor/error.h"
#include "armor/query/run_values.h"

namespace armor::app {

bool parse_db_args(const std::string& usage, const std::vector<std::string>& args, po::options_description& visible,
                   DbArgs& common, po::variables_map& values) {
  add_db_option(visible, common.host);
  visible.add_options()("format", po::value(&common.format)->default_value("auto"),
                        "auto (aligned on a terminal, tab-separated when piped), table, plain, csv, json or markdown");
  po::options_description hidden;
  hidden.add_options()("args", po::value(&common.positional)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  return parse_command_line(usage, args, visible, hidden, positional, values);
}

OutputFormat format_of(const DbArgs& common) { return output_format_from_string(common.format); }

void require_no_arguments(const std::string& command, const DbArgs& common) {
  if (!common.positional.empty())
    throw UsageError(command + " takes no arguments (got '" + common.positional[0] + "')");
}

void add_filter_options(po::options_description& options, FilterArgs& filter) {
  options.add_options()("sweep", po::value(&filter.sweep), "Only the runs of this sweep id")(
      "status", po::value(&filter.statuses)->composing(),
      "Only runs with this status: pending, running, finished, failed, diverged, interrupted (repeatable, or a,b)")(
      "where", po::value(&filter.where),
      "A boolean expression over params, metrics and run fields, e.g. "
      "'trainer.beta>=3 and (model.k=1 or model.k=2)': and, or, not, =, !=, <, <=, >, >=, in (...), "
      "between ... and ..., like, is [not] null; text in quotes");
}

RunFilter filter_of(const FilterArgs& filter, const po::variables_map& values) {
  RunFilter out;
  if (values.count("sweep") != 0) out.sweep_id = filter.sweep;
  for (const std::string& status : split_list(filter.statuses)) {
    try {
      out.statuses.push_back(run_status_from_string(status));
    } catch (const StoreError& error) {
      throw UsageError(std::string("--status: ") + error.what());
    }
  }
  out.where = filter.where;
  return out;
}

std::int64_t parse_id(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || id <= 0)
    throw UsageError(what + " must be a positive integer (got '" + text + "')");
  return id;
}

std::vector<std::int64_t> parse_ids(const std::vector<std::string>& texts, const std::string& what) {
  std::vector<std::int64_t> ids;
  for (const std::string& text : texts) ids.push_back(parse_id(text, what));
  return ids;
}

}  // namespace armor::app
