#include "armor/config/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <random>

#include <fmt/core.h>

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
  if (!std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) {
    sweep_error(override_text, "range() takes finite numbers");
  }
  // Integers print as integers while a double holds them exactly (|x| < 2^53).
  constexpr double kExactInteger = 9007199254740992.0;
  const bool integers = std::floor(start) == start && std::floor(step) == step && std::fabs(start) < kExactInteger &&
                        std::fabs(stop) < kExactInteger;
  // The count first, then start + i * step: adding steps up would drift (range(0,100,0.1)). Negated
  // so that a count that is not a number (huge bounds) is refused too: found by tests/fuzz.
  const double count = std::ceil((stop - start) / step - 1e-9);
  if (!(count <= 100000)) sweep_error(override_text, "range() yields more than 100000 values");
  std::vector<std::string> values;
  for (long long i = 0; i < static_cast<long long>(std::max(count, 0.0)); ++i) {
    const double v = start + static_cast<double>(i) * step;
    values.push_back(integers ? std::to_string(static_cast<long long>(v)) : fmt::format("{}", v));
  }
  if (values.empty()) sweep_error(override_text, "range() yields no values");
  return values;
}

// A sweep function call `name(...)` around the whole value; the arguments, or false.
bool function_call(const std::string& value, const std::string& name, std::string& arguments) {
  if (value.size() < name.size() + 2 || value.compare(0, name.size() + 1, name + "(") != 0 || value.back() != ')') {
    return false;
  }
  arguments = value.substr(name.size() + 1, value.size() - name.size() - 2);
  return true;
}

}  // namespace

std::vector<std::string> sweep_values(const std::string& override_text, const std::string& value_text) {
  std::string arguments;
  if (function_call(value_text, "range", arguments)) return expand_range(override_text, arguments);
  if (function_call(value_text, "choice", arguments) || function_call(value_text, "zip", arguments)) {
    return split_top_level(override_text, arguments);
  }
  return split_top_level(override_text, value_text);
}

namespace {

// One dimension of the grid: the overrides it sets at each of its positions.
struct Dimension {
  std::vector<std::string> prefixes;             // "model.k=" for each member override
  std::vector<std::vector<std::string>> values;  // per member, its values
  std::vector<std::string> texts;
  std::string distribution;  // random search only: uniform, loguniform or randint
  double low = 0, high = 0;
};

bool is_distribution(const std::string& value, std::string& name, std::string& arguments) {
  for (const char* candidate : {"uniform", "loguniform", "randint"}) {
    if (function_call(value, candidate, arguments)) {
      name = candidate;
      return true;
    }
  }
  return false;
}

Dimension distribution_dimension(const std::string& text, const std::string& prefix, const std::string& name,
                                 const std::string& arguments) {
  const std::vector<std::string> args = split_top_level(text, arguments);
  if (args.size() != 2) sweep_error(text, name + "(low, high) takes 2 arguments");
  Dimension dimension{{prefix}, {}, {text}, name, parse_number(text, args[0]), parse_number(text, args[1])};
  if (!(dimension.low < dimension.high)) sweep_error(text, name + "() needs low < high");
  if (name == "loguniform" && dimension.low <= 0) sweep_error(text, "loguniform() needs low > 0");
  return dimension;
}

std::vector<Dimension> dimensions_of(const std::vector<std::string>& overrides, bool random) {
  std::vector<Dimension> dimensions;
  int zip_index = -1;
  for (const auto& text : overrides) {
    const Override parsed = parse_override(text);
    if (parsed.op == Override::Op::remove) {
      dimensions.push_back({{text}, {{""}}, {text}, "", 0, 0});
      continue;
    }
    const std::string prefix = text.substr(0, text.size() - parsed.value_text.size());
    std::string distribution, arguments;
    if (is_distribution(parsed.value_text, distribution, arguments)) {
      if (!random) sweep_error(text, distribution + "() draws random values: use it with --sweeper random");
      dimensions.push_back(distribution_dimension(text, prefix, distribution, arguments));
      continue;
    }
    std::vector<std::string> values = sweep_values(text, parsed.value_text);
    std::string ignored;
    if (function_call(parsed.value_text, "zip", ignored)) {
      if (zip_index < 0) {
        zip_index = static_cast<int>(dimensions.size());
        dimensions.push_back({});
      }
      Dimension& zip = dimensions[static_cast<std::size_t>(zip_index)];
      if (!zip.values.empty() && zip.values.front().size() != values.size()) {
        throw ConfigError("override '" + text + "': zip() has " + std::to_string(values.size()) + " values but '" +
                          zip.texts.front() + "' has " + std::to_string(zip.values.front().size()) +
                          "; paired dimensions need the same length");
      }
      zip.prefixes.push_back(prefix);
      zip.values.push_back(std::move(values));
      zip.texts.push_back(text);
      continue;
    }
    dimensions.push_back({{prefix}, {std::move(values)}, {text}, "", 0, 0});
  }
  return dimensions;
}

std::string draw(const Dimension& dimension, std::mt19937_64& generator) {
  if (dimension.distribution == "randint") {
    const auto low = static_cast<long long>(std::ceil(dimension.low));
    const auto high = static_cast<long long>(std::ceil(dimension.high)) - 1;
    if (high < low) return std::to_string(low);
    return std::to_string(std::uniform_int_distribution<long long>(low, high)(generator));
  }
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double u = unit(generator);
  const double value =
      dimension.distribution == "loguniform"
          ? std::exp(std::log(dimension.low) + u * (std::log(dimension.high) - std::log(dimension.low)))
          : dimension.low + u * (dimension.high - dimension.low);
  return fmt::format("{:.6g}", value);
}

}  // namespace

std::vector<std::vector<std::string>> expand_multirun(const std::vector<std::string>& overrides) {
  std::vector<std::vector<std::string>> points{{}};
  for (const Dimension& dimension : dimensions_of(overrides, false)) {
    std::vector<std::vector<std::string>> next;
    const std::size_t length = dimension.values.front().size();
    for (const auto& point : points) {
      for (std::size_t i = 0; i < length; ++i) {
        next.push_back(point);
        for (std::size_t member = 0; member < dimension.prefixes.size(); ++member) {
          next.back().push_back(dimension.prefixes[member] + dimension.values[member][i]);
        }
      }
    }
    points = std::move(next);
  }
  return points;
}

std::vector<std::vector<std::string>> sample_multirun(const std::vector<std::string>& overrides, int trials,
                                                      std::uint64_t seed) {
  if (trials < 1) throw ConfigError("random search needs at least 1 trial (got " + std::to_string(trials) + ")");
  const std::vector<Dimension> dimensions = dimensions_of(overrides, true);
  std::mt19937_64 generator(seed);
  std::vector<std::vector<std::string>> points;
  for (int trial = 0; trial < trials; ++trial) {
    std::vector<std::string> point;
    for (const Dimension& dimension : dimensions) {
      if (!dimension.distribution.empty()) {
        point.push_back(dimension.prefixes.front() + draw(dimension, generator));
        continue;
      }
      const std::size_t length = dimension.values.front().size();
      const std::size_t index = std::uniform_int_distribution<std::size_t>(0, length - 1)(generator);
      for (std::size_t member = 0; member < dimension.prefixes.size(); ++member) {
        point.push_back(dimension.prefixes[member] + dimension.values[member][index]);
      }
    }
    points.push_back(std::move(point));
  }
  return points;
}

std::string describe_multirun(const std::vector<std::string>& overrides) {
  std::string text;
  for (const Dimension& dimension : dimensions_of(overrides, true)) {
    std::string part;
    for (const auto& member : dimension.texts) part += (part.empty() ? "" : " | ") + member;
    if (dimension.texts.size() > 1) part = "zip(" + part + ")";
    text += (text.empty() ? "" : " ") + part;
  }
  return text;
}

}  // namespace armor
