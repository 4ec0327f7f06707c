#pragma once
// The `armor db` subcommands, one file each (core/cli/db/<name>.cpp); cmd_db.cpp dispatches from
// its table. Each takes the arguments after its name.

#include <string>
#include <vector>

namespace armor::app {

int db_list(const std::vector<std::string>& args);
int db_show(const std::vector<std::string>& args);
int db_compare(const std::vector<std::string>& args);
int db_pivot(const std::vector<std::string>& args);
int db_effects(const std::vector<std::string>& args);
int db_pareto(const std::vector<std::string>& args);
int db_best(const std::vector<std::string>& args);
int db_export(const std::vector<std::string>& args);
int db_sql(const std::vector<std::string>& args);
int db_rm(const std::vector<std::string>& args);
int db_plot(const std::vector<std::string>& args);
int db_curve(const std::vector<std::string>& args);

}  // namespace armor::app
