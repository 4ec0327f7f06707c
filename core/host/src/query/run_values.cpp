#include "armor/query/run_values.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace armor::app {
namespace {

Cell text_or_null(const std::string& text) { return text.empty() ? Cell{} : Cell{text}; }

using FieldReader = std::function<Cell(const RunRecord&)>;

// Run fields by the names --where uses (store/where_sql.cpp keeps the same names for SQL).
const std::vector<std::pair<std::string, FieldReader>>& run_fields() {
  static const std::vector<std::pair<std::string, FieldReader>> fields{
      {"id", [](const RunRecord& r) { return Cell{r.id}; }},
      {"run_id", [](const RunRecord& r) { return Cell{r.id}; }},
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

}  // namespace armor::app
