#include "armor/query/sql_query.h"

#include "armor/store/run_store.h"

namespace armor::app {
namespace {

Cell typed(const std::string& text, CellType type) {
  switch (type) {
    case CellType::null: return Cell{};
    case CellType::integer: return Cell{static_cast<std::int64_t>(std::stoll(text))};
    case CellType::real: return Cell{std::stod(text)};
    default: return Cell{text};
  }
}

}  // namespace

ResultTable sql_query(const ResultsReader& store, const std::string& statement) {
  const QueryResult result = store.query(statement);
  ResultTable table;
  table.columns = result.columns;
  for (std::size_t r = 0; r < result.rows.size(); ++r) {
    std::vector<Cell> row;
    for (std::size_t i = 0; i < result.rows[r].size(); ++i) row.push_back(typed(result.rows[r][i], result.types[r][i]));
    table.rows.push_back(std::move(row));
  }
  return table;
}

}  // namespace armor::app
