#include "armor/params/params.h"

#include "armor/error.h"

namespace armor {

void Params::set(const std::string& name, ParamValue value, std::string origin) {
  values_[name] = {std::move(value), std::move(origin)};
}

bool Params::has(const std::string& name) const { return values_.count(name) != 0; }

const std::pair<ParamValue, std::string>& Params::entry(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) {
    throw ConfigError(section_ + "." + name + " is not a declared parameter of [" + section_ + "]");
  }
  return it->second;
}

const ParamValue& Params::value(const std::string& name) const { return entry(name).first; }

const std::string& Params::origin(const std::string& name) const { return entry(name).second; }

template <typename T>
static const T& typed(const Params& params, const std::string& name, const char* wanted) {
  const ParamValue& value = params.value(name);
  if (const T* typed_value = std::get_if<T>(&value)) return *typed_value;
  throw ConfigError(params.section() + "." + name + " is read as " + wanted + " but holds a " + type_name(value));
}

bool Params::boolean(const std::string& name) const { return typed<bool>(*this, name, "a boolean"); }

std::int64_t Params::integer(const std::string& name) const { return typed<std::int64_t>(*this, name, "an integer"); }

double Params::real(const std::string& name) const { return typed<double>(*this, name, "a float"); }

const std::string& Params::string(const std::string& name) const { return typed<std::string>(*this, name, "a string"); }

void Params::fail(const std::string& name, const std::string& message) const {
  const auto& [value, origin] = entry(name);
  throw ConfigError(origin + ": " + section_ + "." + name + " " + message + " (got " + to_display_string(value) + ")");
}

}  // namespace armor
