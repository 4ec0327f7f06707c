#include "db_support.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <type_traits>
#include <utility>

#include "armor/error.h"
#include "armor/launch/process_liveness.h"
#include "armor/util/suggest.h"
#include "launcher.h"

namespace armor::app {
namespace {

Cell text_or_null(const std::string& text) { return text.empty() ? Cell{} : Cell{text}; }

// Run fields by the names --where uses (store/where_sql.cpp keeps the same names for SQL).
const std::vector<std::pair<std::string, std::function<Cell(const RunRecord&)>>>& run_fields() {
  static const std::vector<std::pair<std::string, std::function<Cell(const RunRecord&)>>> fields{
      {"id", [](const RunRecord& r) { return Cell{r.id}; }},
      {"sweep", [](const RunRecord& r) { return r.sweep_id ? Cell{*r.sweep_id} : Cell{}; }},
      {"sweep_id", [](const RunRecord& r) { return r.sweep_id ? Cell{*r.sweep_id} : Cell{}; }},
      {"idx", [](const RunRecord& r) { return Cell{std::int64_t{r.index}}; }},
      {"status", [](const RunRecord& r) { return Cell{std::string(to_string(r.status))}; }},
      {"experiment", [](const RunRecord& r) { return Cell{r.experiment}; }},
      {"overrides", [](const RunRecord& r) { return Cell{join(r.overrides, " ")}; }},
      {"config_hash", [](const RunRecord& r) { return Cell{r.config_hash}; }},
      {"seed", [](const RunRecord& r) { return Cell{r.seed}; }},
      {"revision", [](const RunRecord& r) { return Cell{r.revision}; }},
      {"host", [](const RunRecord& r) { return Cell{r.host}; }},
      {"created_at", [](const RunRecord& r) { return text_or_null(r.created_at); }},
      {"started_at", [](const RunRecord& r) { return text_or_null(r.started_at); }},
      {"finished_at", [](const RunRecord& r) { return text_or_null(r.finished_at); }},
      {"error", [](const RunRecord& r) { return text_or_null(r.error); }},
      {"output_dir", [](const RunRecord& r) { return text_or_null(r.output_dir); }},
      {"worker", [](const RunRecord& r) { return text_or_null(r.worker); }},
      {"pid", [](const RunRecord& r) { return Cell{r.pid}; }},
      {"attempt", [](const RunRecord& r) { return Cell{std::int64_t{r.attempt}}; }},
      {"heartbeat_at", [](const RunRecord& r) { return text_or_null(r.heartbeat_at); }},
  };
  return fields;
}

}  // namespace

bool parse_db_args(const std::string& usage, const std::vector<std::string>& args, po::options_description& visible,
                   DbArgs& common, po::variables_map& values) {
  add_db_option(visible, common.host);
  visible.add_options()("format", po::value(&common.format)->default_value("auto"),
                        "auto (aligned on a terminal, tab-separated when piped), table, plain, csv or json");
  po::options_description hidden;
  hidden.add_options()("args", po::value(&common.positional)->composing(), "");
  po::positional_options_description positional;
  positional.add("args", -1);
  return parse_command_line(usage, args, visible, hidden, positional, values);
}

OutputFormat format_of(const DbArgs& common) { return output_format_from_string(common.format); }

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

namespace {

void require_database(const HostOptions& host) {
  if (!std::filesystem::exists(host.db)) {
    throw UsageError("no results database at '" + host.db + "' (run an experiment first, or pass --db PATH)");
  }
}

}  // namespace

std::unique_ptr<ResultsReader> open_reader(const HostOptions& host) {
  require_database(host);
  return std::make_unique<ResultsReader>(host.db, ResultsReader::Mode::query);
}

std::unique_ptr<RunStore> open_store(const HostOptions& host) {
  require_database(host);
  return std::make_unique<RunStore>(host.db);
}

std::vector<RunSummary> find_runs_as_they_are(const ResultsReader& store, RunFilter filter) {
  const std::vector<RunStatus> wanted = filter.statuses;
  const auto wants = [&](RunStatus status) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), status) != wanted.end();
  };
  // A dead run is still 'running' in runs.db: fetch those too when interrupted ones are asked for.
  if (!wanted.empty() && wants(RunStatus::interrupted) && !wants(RunStatus::running)) {
    filter.statuses.push_back(RunStatus::running);
  }
  std::vector<RunSummary> runs = store.find_runs(filter);
  std::map<std::int64_t, std::string> dead;
  for (auto& [id, why] : store.dead_runs(filter.sweep_id, local_process_liveness(host_name(), kStaleAfterSeconds))) dead[id] = why;
  std::vector<RunSummary> shown;
  for (RunSummary& run : runs) {
    const auto it = dead.find(run.run.id);
    if (it != dead.end()) {
      run.run.status = RunStatus::interrupted;
      run.run.error = it->second + " (not yet recorded: `armor sweep resume` does)";
    }
    if (wants(run.run.status)) shown.push_back(std::move(run));
  }
  return shown;
}

std::int64_t parse_id(const std::string& text, const std::string& what) {
  char* end = nullptr;
  const long long id = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || id <= 0) throw UsageError(what + " must be a positive integer (got '" + text + "')");
  return id;
}

std::int64_t sweep_or_latest(const ResultsReader& store, const po::variables_map& values, std::int64_t given) {
  if (values.count("sweep") != 0) {
    store.sweep(given);  // names a missing sweep
    return given;
  }
  const auto latest = store.latest_sweep_id();
  if (!latest) throw UsageError(store.path() + " has no sweep yet (run one with `armor run ... --multirun`)");
  return *latest;
}

Cell to_cell(const ParamValue& value) {
  return std::visit([](const auto& held) { return Cell{held}; }, value);
}

Cell value_of(const RunSummary& run, const std::string& name) {
  for (const auto& [field, read] : run_fields()) {
    if (field == name) return read(run.run);
  }
  for (const auto& [key, value] : run.params) {
    if (key == name) return to_cell(value);
  }
  const auto metric = run.metrics.find(name);
  if (metric != run.metrics.end()) return Cell{metric->second};
  return Cell{};
}

void require_known(const ResultsReader& store, const std::string& name, const std::string& option) {
  const std::vector<std::string> known = store.known_names();
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    throw UsageError(option + ": " + store.path() + " has no run field, param or metric '" + name + "'" +
                     did_you_mean(name, known));
  }
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) out += (i == 0 ? "" : separator) + items[i];
  return out;
}

std::vector<std::string> split_list(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const std::string& item : items) {
    std::size_t start = 0;
    while (start <= item.size()) {
      const std::size_t comma = std::min(item.find(',', start), item.size());
      std::string part = item.substr(start, comma - start);
      part.erase(0, part.find_first_not_of(' '));
      part.erase(part.find_last_not_of(' ') + 1);
      if (!part.empty()) out.push_back(part);
      start = comma + 1;
    }
  }
  return out;
}

Stats stats_of(const std::vector<double>& values) {
  Stats stats;
  double sum = 0;
  for (const double value : values) {
    if (!std::isfinite(value)) continue;
    sum += value;
    ++stats.count;
  }
  if (stats.count == 0) return stats;
  stats.mean = sum / stats.count;
  if (stats.count > 1) {
    double squares = 0;
    for (const double value : values) {
      if (std::isfinite(value)) squares += (value - stats.mean) * (value - stats.mean);
    }
    stats.std = std::sqrt(squares / (stats.count - 1));
  }
  return stats;
}

Stats Pivot::stats(const Cell& row, const Cell& col) const {
  const auto found_row = values.find(row);
  if (found_row == values.end()) return Stats{};
  const auto found = found_row->second.find(col);
  return found == found_row->second.end() ? Stats{} : stats_of(found->second);
}

Pivot pivot_of(const std::vector<RunSummary>& runs, const std::string& row_name, const std::string& col_name,
               const std::string& metric) {
  Pivot pivot;
  std::set<Cell, CellLess> rows;
  std::set<Cell, CellLess> cols;
  for (const RunSummary& run : runs) {
    const auto found = run.metrics.find(metric);
    if (found == run.metrics.end()) continue;
    const Cell row = value_of(run, row_name);
    const Cell col = col_name.empty() ? Cell{} : value_of(run, col_name);
    rows.insert(row);
    cols.insert(col);
    pivot.values[row][col].push_back(found->second);
  }
  pivot.row_values.assign(rows.begin(), rows.end());
  pivot.col_values.assign(cols.begin(), cols.end());
  return pivot;
}

}  // namespace armor::app
