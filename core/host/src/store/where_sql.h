#pragma once
// WhereSql: a WhereExpression (or a sort key) compiled into a WHERE fragment over `runs r`, with
// every key and value as a bound parameter. Internal to the store: SQL stays in this layer.

#include <optional>
#include <string>
#include <vector>

#include "armor/params/param_value.h"
#include "armor/query/where_expression.h"

namespace armor {

struct WhereSql {
  std::string sql;                               // uses `r` for the runs table, `?` for parameters
  std::vector<std::optional<ParamValue>> binds;  // in order of the `?`s; nullopt binds NULL

  // Appends `other` (its SQL and its parameters).
  void append(const WhereSql& other);
};

// The run fields a name may refer to (id, sweep, status, ...).
const std::vector<std::string>& run_field_names();

// Compiles `expression`; a name must be a run field or one of `param_keys` / `metric_keys`,
// otherwise UsageError with a suggestion.
WhereSql compile_where(const query::WhereExpression& expression, const std::vector<std::string>& param_keys,
                       const std::vector<std::string>& metric_keys);

// The SQL value of one name (for ORDER BY), checked like compile_where's names.
WhereSql compile_name(const std::string& name, const std::vector<std::string>& param_keys,
                      const std::vector<std::string>& metric_keys);

}  // namespace armor
