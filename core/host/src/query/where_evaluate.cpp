#include "armor/query/where_evaluate.h"

#include <cctype>
#include <cmath>

namespace armor::query {
namespace {

// SQL's three-valued logic: nullopt is unknown.
using Truth = std::optional<bool>;

std::optional<ParamValue> value_of(const Operand& operand, const Lookup& lookup) {
  return operand.is_name() ? lookup(operand.name) : operand.value;
}

std::optional<double> as_number(const ParamValue& value) {
  if (const auto* b = std::get_if<bool>(&value)) return *b ? 1.0 : 0.0;
  if (const auto* i = std::get_if<std::int64_t>(&value)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::nullopt;
}

// <0, 0, >0; numbers before text, as SQLite orders them.
int compare(const ParamValue& left, const ParamValue& right) {
  const auto a = as_number(left);
  const auto b = as_number(right);
  if (a && b) return *a < *b ? -1 : (*a > *b ? 1 : 0);
  if (a) return -1;
  if (b) return 1;
  return std::get<std::string>(left).compare(std::get<std::string>(right));
}

Truth compare_with(const std::string& op, const std::optional<ParamValue>& left,
                   const std::optional<ParamValue>& right) {
  if (!left || !right) return std::nullopt;
  const int order = compare(*left, *right);
  if (op == "=" || op == "==") return order == 0;
  if (op == "!=" || op == "<>") return order != 0;
  if (op == "<") return order < 0;
  if (op == "<=") return order <= 0;
  if (op == ">") return order > 0;
  return order >= 0;  // ">="
}

bool like(const std::string& text, const std::string& pattern, std::size_t t = 0, std::size_t p = 0) {
  if (p == pattern.size()) return t == text.size();
  if (pattern[p] == '%') {
    for (std::size_t skip = t; skip <= text.size(); ++skip) {
      if (like(text, pattern, skip, p + 1)) return true;
    }
    return false;
  }
  if (t == text.size()) return false;
  const bool same = pattern[p] == '_' || std::tolower(static_cast<unsigned char>(pattern[p])) ==
                                             std::tolower(static_cast<unsigned char>(text[t]));
  return same && like(text, pattern, t + 1, p + 1);
}

// A string as it is; other values as they print.
std::string plain_text(const ParamValue& value) {
  return std::holds_alternative<std::string>(value) ? std::get<std::string>(value) : to_display_string(value);
}

Truth negate(Truth truth, bool negated) { return truth && negated ? Truth(!*truth) : truth; }

Truth truth_of(const WhereExpression& e, const Lookup& lookup) {
  using Kind = WhereExpression::Kind;
  switch (e.kind) {
    case Kind::all_of: {
      Truth result = true;
      for (const auto& child : e.children) {
        const Truth t = truth_of(child, lookup);
        if (t && !*t) return false;
        if (!t) result = std::nullopt;
      }
      return result;
    }
    case Kind::any_of: {
      Truth result = false;
      for (const auto& child : e.children) {
        const Truth t = truth_of(child, lookup);
        if (t && *t) return true;
        if (!t) result = std::nullopt;
      }
      return result;
    }
    case Kind::negation: {
      const Truth t = truth_of(e.children.front(), lookup);
      return t ? Truth(!*t) : t;
    }
    case Kind::compare: return compare_with(e.op, value_of(e.operands[0], lookup), value_of(e.operands[1], lookup));
    case Kind::in: {
      const auto needle = value_of(e.operands[0], lookup);
      if (!needle) return std::nullopt;
      Truth found = false;
      for (std::size_t i = 1; i < e.operands.size(); ++i) {
        const Truth t = compare_with("=", needle, value_of(e.operands[i], lookup));
        if (t && *t) return negate(true, e.negated);
        if (!t) found = std::nullopt;
      }
      return negate(found, e.negated);
    }
    case Kind::between: {
      const auto value = value_of(e.operands[0], lookup);
      const Truth low = compare_with(">=", value, value_of(e.operands[1], lookup));
      const Truth high = compare_with("<=", value, value_of(e.operands[2], lookup));
      if (!low || !high) return std::nullopt;
      return negate(*low && *high, e.negated);
    }
    case Kind::like: {
      const auto text = value_of(e.operands[0], lookup);
      const auto pattern = value_of(e.operands[1], lookup);
      if (!text || !pattern) return std::nullopt;
      return negate(like(plain_text(*text), plain_text(*pattern)), e.negated);
    }
    case Kind::is_null: return negate(!value_of(e.operands[0], lookup).has_value(), e.negated);
  }
  return std::nullopt;
}

}  // namespace

bool evaluate(const WhereExpression& expression, const Lookup& lookup) {
  const Truth truth = truth_of(expression, lookup);
  return truth.value_or(false);
}

}  // namespace armor::query
