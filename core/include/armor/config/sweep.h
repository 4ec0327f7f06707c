#pragma once
// Multirun expansion: `--multirun model.num_experts=2,4 model.k=1,2` becomes the cartesian
// product of the listed values, each point a list of plain overrides. A value list is a comma
// list at the top level (commas inside [], {} or quotes do not split) or range(start, stop[, step]).

#include <string>
#include <vector>

namespace armor {

// The sweep values of one override's value text: "2,4" -> {"2","4"}; "range(0,3)" -> {"0","1","2"};
// a value with no top-level comma is a list of one. ConfigError (naming the override) on bad syntax.
std::vector<std::string> sweep_values(const std::string& override_text, const std::string& value_text);

// The points of the grid, in order (the last override varies fastest). Overrides with a single
// value appear in every point unchanged.
std::vector<std::vector<std::string>> expand_multirun(const std::vector<std::string>& overrides);

}  // namespace armor
