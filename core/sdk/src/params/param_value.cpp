#include "armor/params/param_value.h"

#include "armor/util/json_text.h"

#include <fmt/format.h>

#include <type_traits>

namespace armor {
std::string to_display_string(const ParamValue& value) {
  return std::visit(
      [](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, bool>) {
          return held ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(held);
        } else if constexpr (std::is_same_v<T, double>) {
          return fmt::format("{}", held);  // the shortest text that reads back as the same double
        } else {
          return json_quoted(held);
        }
      },
      value);
}

const char* type_name(const ParamValue& value) {
  // The variant's alternatives, in order: bool, std::int64_t, double, std::string.
  static constexpr const char* kNames[] = {"boolean", "integer", "float", "string"};
  static_assert(std::variant_size_v<ParamValue> == 4, "a new ParamValue alternative needs a name");
  return kNames[value.index()];
}

}  // namespace armor
