#pragma once
// The `armor db` subcommands (cmd_db.cpp dispatches); each takes the arguments after its name.

#include <string>
#include <vector>

namespace armor::app {

int db_list(const std::vector<std::string>& args);     // db_list.cpp
int db_export(const std::vector<std::string>& args);   // db_list.cpp
int db_show(const std::vector<std::string>& args);     // db_show.cpp
int db_compare(const std::vector<std::string>& args);  // db_show.cpp
int db_pivot(const std::vector<std::string>& args);    // db_pivot.cpp
int db_best(const std::vector<std::string>& args);     // db_pivot.cpp
int db_sql(const std::vector<std::string>& args);      // db_sql.cpp
int db_rm(const std::vector<std::string>& args);       // db_sql.cpp
int db_plot(const std::vector<std::string>& args);     // db_plot.cpp

}  // namespace armor::app
