#pragma once
// A typed scalar configuration value, as TOML has them: boolean, integer, float or string.

#include <cstdint>
#include <string>
#include <variant>

namespace armor {

using ParamValue = std::variant<bool, std::int64_t, double, std::string>;

// The value as a short human-readable text: true, 3, 0.1, "abc" (strings quoted).
std::string to_display_string(const ParamValue& value);

// The name of the value's type as config errors print it: "boolean", "integer", "float", "string".
const char* type_name(const ParamValue& value);

}  // namespace armor
