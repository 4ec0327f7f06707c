#pragma once
// WhereExpression: the parsed form of `armor db list --where '...'`, a boolean expression over a
// run's fields, typed params and final metrics. It knows no SQL: the store compiles it into a
// parameterised WHERE clause, binding every key and value.
//
// Grammar (keywords case-insensitive; `&&`, `||` and `!` work too):
//   expr      := and_expr ("or" and_expr)*
//   and_expr  := unary ("and" unary)*
//   unary     := "not" unary | "(" expr ")" | predicate
//   predicate := operand ( op operand
//                        | ["not"] "in" "(" operand ("," operand)* ")"
//                        | ["not"] "between" operand "and" operand
//                        | ["not"] "like" operand
//                        | "is" ["not"] "null" )
//   op        := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
//   operand   := name | number | fraction (8/255) | 'text' | "text" | true | false | null
// A name with a dot is a param key (model.k), a plain name a run field (id, sweep, status, seed,
// ...) or a final metric (clean_acc).

#include <optional>
#include <string>
#include <vector>

#include "armor/params/param_value.h"

namespace armor::query {

// A name, or a literal value (no value: NULL).
struct Operand {
  std::string name;                 // non-empty for a name
  std::optional<ParamValue> value;  // a literal's value

  bool is_name() const noexcept { return !name.empty(); }
};

struct WhereExpression {
  enum class Kind { all_of, any_of, negation, compare, in, between, like, is_null };
  Kind kind = Kind::all_of;
  std::string op;                         // compare: "=", "!=", "<", "<=", ">", ">="
  bool negated = false;                   // not in, not between, not like, is not null
  std::vector<WhereExpression> children;  // all_of, any_of (two or more), negation (one)
  std::vector<Operand> operands;          // compare 2, in 1 + list, between 3, like 2, is_null 1
};

// Parses `text`; throws UsageError naming the column of the first problem.
WhereExpression parse_where(const std::string& text);

// Every name the expression uses, in order of appearance.
std::vector<std::string> names_in(const WhereExpression& expression);

}  // namespace armor::query
