#pragma once
// Text as a JSON string literal: quotes, backslashes and control characters escaped, UTF-8 kept.

#include <string>

namespace armor {

std::string json_quoted(const std::string& text);

}  // namespace armor
