// armor db sql "SELECT ...": one read-only SQL statement.

#include "armor/error.h"
#include "armor/query/run_lookup.h"
#include "armor/query/sql_query.h"
#include "db/subcommands.h"
#include "db/support.h"

namespace armor::app {

int db_sql(const std::vector<std::string>& args) {
  DbArgs common;
  po::options_description visible("options");
  po::variables_map values;
  if (!parse_db_args("armor db sql \"SELECT ...\"   (one read-only statement; schema and views in the README)", args,
                     visible, common, values)) {
    return kExitOk;
  }
  if (common.positional.size() != 1) throw UsageError("armor db sql takes one SQL statement (quote it)");
  // A read-only connection: SQLite itself refuses any write (and query() checks each statement).
  const auto store = open_reader(common.host.db);
  print_table(sql_query(*store, common.positional[0]), format_of(common));
  return kExitOk;
}

}  // namespace armor::app
