#include "armor/params/inline_params.h"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor {
namespace {

// A TOML scalar as a ParamValue; false for tables and arrays.
bool scalar_value(const toml::node& node, ParamValue& out) {
  if (const auto* v = node.as_boolean()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_integer()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_floating_point()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_string()) {
    out = v->get();
    return true;
  }
  return false;
}

// "an integer", "a string".
std::string with_article(const std::string& noun) { return (noun.front() == 'i' ? "an " : "a ") + noun; }

// `raw` as the spec's type, or a ConfigError naming `where` and `key`.
ParamValue typed_inline_value(const ParamSpec& spec, const ParamValue& raw, const std::string& where,
                              const std::string& key) {
  auto fail = [&](const std::string& message) -> ConfigError {
    return ConfigError(where + ": " + key + " " + message + " (got " + to_display_string(raw) + ")");
  };
  ParamValue value = raw;
  if (spec.type == ParamType::real && std::holds_alternative<std::int64_t>(raw)) {
    value = static_cast<double>(std::get<std::int64_t>(raw));
  }
  const bool type_ok = (spec.type == ParamType::boolean && std::holds_alternative<bool>(value)) ||
                       (spec.type == ParamType::integer && std::holds_alternative<std::int64_t>(value)) ||
                       (spec.type == ParamType::real && std::holds_alternative<double>(value)) ||
                       (spec.type == ParamType::string && std::holds_alternative<std::string>(value));
  if (!type_ok)
    throw fail(std::string("must be ") + with_article(to_string(spec.type)) + ", not " + with_article(type_name(raw)));
  if (spec.type == ParamType::integer || spec.type == ParamType::real) {
    const double number =
        spec.type == ParamType::integer ? static_cast<double>(std::get<std::int64_t>(value)) : std::get<double>(value);
    if (!std::isfinite(number)) throw fail("must be finite");
    if (spec.min && number < *spec.min) throw fail(fmt::format("must be >= {}", *spec.min));
    if (spec.max && number > *spec.max) throw fail(fmt::format("must be <= {}", *spec.max));
  }
  if (!spec.choices.empty()) {
    const auto& text = std::get<std::string>(value);
    if (std::find(spec.choices.begin(), spec.choices.end(), text) == spec.choices.end()) {
      std::string list;
      for (const auto& choice : spec.choices) list += (list.empty() ? "" : ", ") + choice;
      throw fail("must be one of " + list + did_you_mean(text, spec.choices));
    }
  }
  return value;
}

}  // namespace

Params parse_inline_params(const std::string& text, const ParamSchema& schema, const std::string& section,
                           const std::string& origin, const std::map<std::string, ParamValue>& preset) {
  toml::table parsed;
  try {
    parsed = toml::parse("p = {" + text + "}", section);
  } catch (const toml::parse_error& error) {
    throw ConfigError(origin + ": " + section +
                      " must be the body of a TOML inline table, e.g. \"depth = 10, stem = 'cifar'\" (" +
                      std::string(error.description()) + "; got \"" + text + "\")");
  }
  // Exactly the one table: text such as "a = 1 }, b = {" would close it early and add keys outside.
  const toml::table* given = parsed.size() == 1 && parsed.get("p") != nullptr ? parsed.get("p")->as_table() : nullptr;
  if (given == nullptr)
    throw ConfigError(origin + ": " + section + " must be the body of a TOML inline table (got \"" + text + "\")");

  Params params(section);
  for (const auto& [key, node] : *given) {
    const std::string name(key.str());
    const ParamSpec* spec = schema.find(name);
    if (spec == nullptr) {
      throw ConfigError(origin + ": unknown key " + section + "." + name + did_you_mean(name, schema.names()) +
                        "; run `armor plugins show` for the parameters");
    }
    ParamValue raw;
    if (!scalar_value(node, raw)) {
      throw ConfigError(origin + ": " + section + "." + name + " must be " + with_article(to_string(spec->type)) +
                        " (got a table, an array or a date)");
    }
    params.set(name, typed_inline_value(*spec, raw, origin, section + "." + name), origin);
  }
  for (const ParamSpec& spec : schema.specs()) {
    if (params.has(spec.name)) continue;
    const auto it = preset.find(spec.name);
    if (it != preset.end()) {
      params.set(spec.name, typed_inline_value(spec, it->second, origin, section + "." + spec.name), origin);
    } else {
      params.set(spec.name, spec.default_value, "default");
    }
  }
  for (const auto& check : schema.checks()) check(params);
  return params;
}

}  // namespace armor
