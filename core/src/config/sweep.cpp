#include "armor/config/sweep.h"

#include <cmath>
#include <cstdlib>
#include <regex>

#include "armor/config/override.h"
#include "armor/error.h"

namespace armor {
namespace {

[[noreturn]] void sweep_error(const std::string& override_text, const std::string& what) {
  throw ConfigError("override '" + override_text + "': " + what);
}

// Splits at commas outside brackets, braces and quotes.
std::vector<std::string> split_top_level(const std::string& override_text, const std::string& text) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  char quote = 0;
  for (const char c : text) {
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[' || c == '{' || c == '(') {
      ++depth;
    } else if (c == ']' || c == '}' || c == ')') {
      --depth;
    } else if (c == ',' && depth == 0) {
      if (current.empty()) sweep_error(override_text, "empty value in the sweep list '" + text + "'");
      parts.push_back(current);
      current.clear();
      continue;
    }
    current += c;
  }
  if (quote != 0) sweep_error(override_text, "unterminated quote in '" + text + "'");
  if (current.empty()) sweep_error(override_text, "empty value in the sweep list '" + text + "'");
  parts.push_back(current);
  return parts;
}

double parse_number(const std::string& override_text, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    sweep_error(override_text, "range() takes numbers, got '" + text + "'");
  }
  return value;
}

std::vector<std::string> expand_range(const std::string& override_text, const std::string& arguments) {
  const std::vector<std::string> args = split_top_level(override_text, arguments);
  if (args.size() < 2 || args.size() > 3) {
    sweep_error(override_text, "range(start, stop[, step]) takes 2 or 3 arguments");
  }
  const double start = parse_number(override_text, args[0]);
  const double stop = parse_number(override_text, args[1]);
  const double step = args.size() == 3 ? parse_number(override_text, args[2]) : 1.0;
  if (step == 0) sweep_error(override_text, "range() step must not be 0");
  const bool integers = std::floor(start) == start && std::floor(step) == step;
  std::vector<std::string> values;
  for (double v = start; step > 0 ? v < stop - 1e-12 : v > stop + 1e-12; v += step) {
    values.push_back(integers ? std::to_string(static_cast<long long>(v)) : std::to_string(v));
    if (values.size() > 100000) sweep_error(override_text, "range() yields more than 100000 values");
  }
  if (values.empty()) sweep_error(override_text, "range() yields no values");
  return values;
}

}  // namespace

std::vector<std::string> sweep_values(const std::string& override_text, const std::string& value_text) {
  static const std::regex range_call(R"(^range\((.*)\)$)");
  std::smatch match;
  if (std::regex_match(value_text, match, range_call)) return expand_range(override_text, match[1].str());
  return split_top_level(override_text, value_text);
}

std::vector<std::vector<std::string>> expand_multirun(const std::vector<std::string>& overrides) {
  std::vector<std::vector<std::string>> points{{}};
  for (const auto& text : overrides) {
    const Override parsed = parse_override(text);
    if (parsed.op == Override::Op::remove) {
      for (auto& point : points) point.push_back(text);
      continue;
    }
    const std::string prefix = text.substr(0, text.size() - parsed.value_text.size());
    std::vector<std::vector<std::string>> next;
    for (const auto& point : points) {
      for (const auto& value : sweep_values(text, parsed.value_text)) {
        next.push_back(point);
        next.back().push_back(prefix + value);
      }
    }
    points = std::move(next);
  }
  return points;
}

}  // namespace armor
