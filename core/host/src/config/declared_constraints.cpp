#include "armor/config/declared_constraints.h"

#include <algorithm>
#include <cctype>
#include <vector>

#include "armor/error.h"
#include "armor/params/param_schema.h"
#include "armor/params/params.h"
#include "armor/query/where_evaluate.h"
#include "armor/query/where_expression.h"

namespace armor {
namespace {

bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.'; }

// A section's declared constraint parsed; one that does not parse is the plugin's mistake.
query::WhereExpression parse_declared(const std::string& section, const std::string& expression) {
  try {
    return query::parse_where(expression);
  } catch (const Error& error) {
    throw ConfigError(section + ": the declared constraint '" + expression + "' does not parse (" + error.what() + ")");
  }
}

// The constraint parsed, its names (each once, in order of appearance) checked against the section.
query::WhereExpression parse_declared(const Params& params, const ParamConstraint& constraint,
                                      std::vector<std::string>& names) {
  query::WhereExpression expression = parse_declared(params.section(), constraint.expression);
  for (const std::string& name : query::names_in(expression)) {
    if (!params.has(name)) {
      throw ConfigError(params.section() + ": the declared constraint '" + constraint.expression + "' names '" + name +
                        "', which is not a key of the section");
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return expression;
}

}  // namespace

void check_declared_constraints(const Params& params, const ParamSchema& schema) {
  for (const ParamConstraint& constraint : schema.constraints()) {
    std::vector<std::string> names;
    const query::WhereExpression expression = parse_declared(params, constraint, names);
    const query::Lookup lookup = [&params](const std::string& name) {
      return std::optional<ParamValue>(params.value(name));
    };
    if (query::evaluate(expression, lookup)) continue;
    std::string origin;
    std::string values;
    for (const std::string& name : names) {
      if (origin.empty() && params.origin(name) != "default") origin = params.origin(name);
      values += (values.empty() ? "" : ", ") + name + " = " + to_display_string(params.value(name));
    }
    throw ConfigError((origin.empty() ? "" : origin + ": ") + params.section() + ": " + constraint.expression +
                      " does not hold (" + values + ")" + (constraint.doc.empty() ? "" : ": " + constraint.doc));
  }
}

std::string qualified_constraint(const std::string& section, const std::string& expression) {
  const std::vector<std::string> names = query::names_in(parse_declared(section, expression));
  std::string out;
  std::size_t i = 0;
  while (i < expression.size()) {
    const char c = expression[i];
    if (c == '\'' || c == '"') {  // quoted text, copied as it is
      const std::size_t end = expression.find(c, i + 1);
      const std::size_t stop = end == std::string::npos ? expression.size() : end + 1;
      out.append(expression, i, stop - i);
      i = stop;
    } else if (is_name_char(c)) {  // a name, keyword or number
      std::size_t end = i;
      while (end < expression.size() && is_name_char(expression[end])) ++end;
      const std::string word = expression.substr(i, end - i);
      const bool is_name = std::isdigit(static_cast<unsigned char>(c)) == 0 &&
                           std::find(names.begin(), names.end(), word) != names.end();
      out += is_name ? section + "." + word : word;
      i = end;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

}  // namespace armor
