#pragma once
// Evaluating a WhereExpression in memory, against values looked up by name: what sweep constraints
// (`model.k <= model.num_experts`) use to drop grid points before they run. The store compiles the
// same expressions to SQL for `armor db list --where`; both follow SQL's rules: a comparison with a
// missing (NULL) value is not true, numbers compare as numbers, `like` uses % and _.

#include <functional>
#include <optional>
#include <string>

#include "armor/params/param_value.h"
#include "armor/query/where_expression.h"

namespace armor::query {

using Lookup = std::function<std::optional<ParamValue>(const std::string& name)>;

bool evaluate(const WhereExpression& expression, const Lookup& lookup);

}  // namespace armor::query
