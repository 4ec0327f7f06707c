#pragma once
// `armor db sql "SELECT ..."`: one read-only statement, its cells typed as SQLite typed them.

#include <string>

#include "armor/report/result_table.h"

namespace armor {
class ResultsReader;
class RunStore;
}  // namespace armor

namespace armor::app {

// StoreError for a statement that is not read-only or that SQLite refuses.
ResultTable sql_query(const ResultsReader& store, const std::string& statement);

}  // namespace armor::app
