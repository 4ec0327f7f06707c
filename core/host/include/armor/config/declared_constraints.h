#pragma once
// The host's side of ParamSchema::constraint: the SDK stores a plugin's declared constraints
// ("k <= num_experts"), the host evaluates them, with the `armor db --where` parser and evaluator,
// where it resolves a section and where a sweep planner decides which points run.

#include <string>

namespace armor {

class Params;
class ParamSchema;

// Throws ConfigError when the resolved section `params` breaks a constraint of `schema`:
//   "exp.toml:5:5: model: k <= num_experts does not hold (k = 5, num_experts = 4): <doc>"
// The position is that of the first key the constraint names whose value is not a default. A
// constraint that does not parse, or that names a key the section lacks, is the plugin's mistake:
// a ConfigError naming the section and the constraint.
void check_declared_constraints(const Params& params, const ParamSchema& schema);

// A section's constraint over dotted keys, for a sweep constraint or a dropped point's reason:
// ("model", "k <= num_experts") -> "model.k <= model.num_experts". Only the names the expression
// uses are prefixed (not keywords, numbers or quoted text).
std::string qualified_constraint(const std::string& section, const std::string& expression);

}  // namespace armor
