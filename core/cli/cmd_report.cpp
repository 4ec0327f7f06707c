// armor report: one self-contained HTML page about a sweep (README "Sweep reports"); the page itself
// is the host's (armor/report/sweep_report.h).

#include <fstream>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/query/run_lookup.h"
#include "armor/report/sweep_report.h"
#include "command.h"

namespace armor::app {

int report_command(const std::vector<std::string>& args) {
  HostOptions host;
  std::int64_t sweep = 0;
  std::string output;
  po::options_description visible("options");
  add_db_option(visible, host);
  visible.add_options()("sweep", po::value(&sweep), "The sweep to report on (default: the latest)")(
      "output,o", po::value(&output), "HTML file to write (default: report-sweep<ID>.html)");
  po::options_description hidden;
  po::positional_options_description positional;
  po::variables_map values;
  if (!parse_command_line(
          "armor report [--sweep ID] [-o report.html] [--db runs.db]\n"
          "One self-contained HTML page (inline SVG, no script, no network) about a sweep: its config,\n"
          "runs, pivot tables, accuracy vs robustness, metrics vs params, heat maps, training curves\n"
          "and expert usage.",
          args, visible, hidden, positional, values)) {
    return kExitOk;
  }
  const auto store = open_reader(host.db);
  const std::int64_t sweep_id =
      sweep_or_latest(*store, values.count("sweep") != 0 ? std::optional<std::int64_t>(sweep) : std::nullopt);
  const std::string page = sweep_report_html(*store, sweep_id);
  if (output.empty()) output = "report-sweep" + std::to_string(sweep_id) + ".html";
  std::ofstream file(output, std::ios::binary);
  file << page;
  if (!file) throw UsageError("cannot write the report to '" + output + "'");
  fmt::print("wrote {} (sweep {})\n", output, sweep_id);
  return kExitOk;
}

}  // namespace armor::app
