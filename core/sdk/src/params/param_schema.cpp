#include "armor/params/param_schema.h"

#include "armor/error.h"

namespace armor {

const char* to_string(ParamType type) {
  switch (type) {
    case ParamType::boolean: return "boolean";
    case ParamType::integer: return "integer";
    case ParamType::real: return "float";
    case ParamType::string: return "string";
  }
  return "?";
}

ParamSchema& ParamSchema::add(ParamSpec spec) {
  if (find(spec.name) != nullptr) {
    throw ConfigError("parameter '" + spec.name + "' is declared twice");
  }
  specs_.push_back(std::move(spec));
  return *this;
}

ParamSchema& ParamSchema::integer(std::string name, std::int64_t default_value, std::string doc,
                                  std::optional<double> min, std::optional<double> max) {
  return add({std::move(name), ParamType::integer, default_value, std::move(doc), min, max, {}});
}

ParamSchema& ParamSchema::real(std::string name, double default_value, std::string doc, std::optional<double> min,
                               std::optional<double> max) {
  return add({std::move(name), ParamType::real, default_value, std::move(doc), min, max, {}});
}

ParamSchema& ParamSchema::boolean(std::string name, bool default_value, std::string doc) {
  return add({std::move(name), ParamType::boolean, default_value, std::move(doc), {}, {}, {}});
}

ParamSchema& ParamSchema::string(std::string name, std::string default_value, std::string doc,
                                 std::vector<std::string> choices) {
  return add(
      {std::move(name), ParamType::string, std::move(default_value), std::move(doc), {}, {}, std::move(choices)});
}

ParamSchema& ParamSchema::check(Check check) {
  checks_.push_back(std::move(check));
  return *this;
}

ParamSchema& ParamSchema::constraint(std::string expression, std::string doc) {
  constraints_.push_back({std::move(expression), std::move(doc)});
  return *this;
}

ParamSchema& ParamSchema::extend(const ParamSchema& other) {
  for (const auto& spec : other.specs_) add(spec);
  for (const auto& check : other.checks_) checks_.push_back(check);
  for (const auto& constraint : other.constraints_) constraints_.push_back(constraint);
  return *this;
}

const ParamSpec* ParamSchema::find(const std::string& name) const {
  for (const auto& spec : specs_) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

std::vector<std::string> ParamSchema::names() const {
  std::vector<std::string> names;
  names.reserve(specs_.size());
  for (const auto& spec : specs_) names.push_back(spec.name);
  return names;
}

}  // namespace armor
