#pragma once
// Params: the resolved, validated values of one config section (e.g. [model]), each with the
// place it came from, so that a plugin's own checks can report errors the way the host does.

#include <cstdint>
#include <map>
#include <string>

#include "armor/params/param_value.h"

namespace armor {

class Params {
 public:
  Params() = default;
  explicit Params(std::string section) : section_(std::move(section)) {}

  // The section's dotted path, e.g. "model" or "eval.attacks.pgd20".
  const std::string& section() const noexcept { return section_; }

  void set(const std::string& name, ParamValue value, std::string origin);
  bool has(const std::string& name) const;

  // Typed getters; asking for an undeclared name or the wrong type is a programming error of the
  // plugin and throws ConfigError naming the section and key.
  bool boolean(const std::string& name) const;
  std::int64_t integer(const std::string& name) const;
  double real(const std::string& name) const;
  const std::string& string(const std::string& name) const;
  const ParamValue& value(const std::string& name) const;
  // Where the value came from: "experiments/x.toml:12:7", "override 'model.k=3'" or "default".
  const std::string& origin(const std::string& name) const;

  // Throws ConfigError "<origin>: <section>.<name> <message> (got <value>)".
  [[noreturn]] void fail(const std::string& name, const std::string& message) const;

  const std::map<std::string, std::pair<ParamValue, std::string>>& entries() const noexcept { return values_; }

 private:
  const std::pair<ParamValue, std::string>& entry(const std::string& name) const;

  std::string section_;
  std::map<std::string, std::pair<ParamValue, std::string>> values_;
};

}  // namespace armor
