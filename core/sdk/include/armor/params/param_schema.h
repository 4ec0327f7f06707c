#pragma once
// ParamSchema: the parameters a plugin (or a host section such as [run]) declares: name, type,
// default, one-line doc, and optional bounds or choices. Every key of a config section must be
// declared here; an undeclared or ill-typed key is a ConfigError, never a silent default.

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
  std::optional<double> min;          // inclusive, for integer and real
  std::optional<double> max;          // inclusive, for integer and real
  std::vector<std::string> choices;   // allowed values of a string, empty = any
};

class ParamSchema {
 public:
  // Cross-parameter validation (e.g. k <= num_experts); throws through Params::fail.
  using Check = std::function<void(const Params&)>;

  ParamSchema& integer(std::string name, std::int64_t default_value, std::string doc,
                       std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  ParamSchema& real(std::string name, double default_value, std::string doc,
                    std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt);
  ParamSchema& boolean(std::string name, bool default_value, std::string doc);
  ParamSchema& string(std::string name, std::string default_value, std::string doc,
                      std::vector<std::string> choices = {});
  ParamSchema& check(Check check);
  // Appends every parameter and check of `other` (for parameters shared by several plugins).
  ParamSchema& extend(const ParamSchema& other);

  const std::vector<ParamSpec>& specs() const noexcept { return specs_; }
  const std::vector<Check>& checks() const noexcept { return checks_; }
  const ParamSpec* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  ParamSchema& add(ParamSpec spec);

  std::vector<ParamSpec> specs_;
  std::vector<Check> checks_;
};

}  // namespace armor
