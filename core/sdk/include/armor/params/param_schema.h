#pragma once
// ParamSchema: the parameters a plugin (or a host section such as [run]) declares: name, type,
// default, one-line doc, and optional bounds or choices. Every key of a config section must be
// declared here; an undeclared or ill-typed key is a ConfigError, never a silent default.
// Constraints between keys (k <= num_experts) are declared as data, expressions the host evaluates
// where it resolves the section and where a sweep planner drops the points that break them.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "armor/params/param_value.h"

namespace armor {

class Params;

enum class ParamType { boolean, integer, real, string };
const char* to_string(ParamType type);

struct ParamSpec {
  std::string name;
  ParamType type = ParamType::string;
  ParamValue default_value;
  std::string doc;
  std::optional<double> min;         // inclusive, for integer and real
  std::optional<double> max;         // inclusive, for integer and real
  std::vector<std::string> choices;  // allowed values of a string, empty = any
};

// A rule between the section's own keys, in the `armor db --where` syntax over their plain names
// ("k <= num_experts"). The SDK only stores it: the host parses and evaluates it (a section whose
// values break it is a ConfigError naming the values; a sweep drops the point, with the names
// prefixed by the section: "model.k <= model.num_experts").
struct ParamConstraint {
  std::string expression;
  std::string doc;  // one line: why the rule holds
};

class ParamSchema {
 public:
  // Cross-parameter validation that no constraint expression can state; throws through Params::fail.
  using Check = std::function<void(const Params&)>;

  ParamSchema& integer(std::string name, std::int64_t default_value, std::string doc,
                       std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  ParamSchema& real(std::string name, double default_value, std::string doc, std::optional<double> min = std::nullopt,
                    std::optional<double> max = std::nullopt);
  ParamSchema& boolean(std::string name, bool default_value, std::string doc);
  ParamSchema& string(std::string name, std::string default_value, std::string doc,
                      std::vector<std::string> choices = {});
  ParamSchema& check(Check check);
  // Declares a rule between this schema's keys, e.g. constraint("k <= num_experts", "...").
  ParamSchema& constraint(std::string expression, std::string doc);
  // Appends every parameter, check and constraint of `other` (for parameters shared by several
  // plugins, e.g. armor::moe_params()).
  ParamSchema& extend(const ParamSchema& other);

  const std::vector<ParamSpec>& specs() const noexcept { return specs_; }
  const std::vector<Check>& checks() const noexcept { return checks_; }
  const std::vector<ParamConstraint>& constraints() const noexcept { return constraints_; }
  const ParamSpec* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  ParamSchema& add(ParamSpec spec);

  std::vector<ParamSpec> specs_;
  std::vector<Check> checks_;
  std::vector<ParamConstraint> constraints_;
};

}  // namespace armor
