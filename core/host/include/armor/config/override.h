#pragma once
// Command-line overrides of a composed config: `key=value` (set), `+key=value` (add a key that
// must not exist yet), `++key=value` (add or replace), `~key` (delete, back to the default).
// Keys are dotted paths; values are TOML (`3`, `0.1`, `true`, `"text"`, `[1, 2]`), fractions
// (`8/255`), or bare words taken as strings (`pgd_at`).

#include <string>
#include <vector>

namespace armor {

struct Override {
  enum class Op { set, add, add_or_replace, remove };
  Op op = Op::set;
  std::string key;         // dotted path, e.g. "model.k"
  std::string value_text;  // the text after '=', empty for remove
  std::string text;        // the override as the user wrote it
};

// Parses one override; a syntax error is a ConfigError naming the override and the column (1-based).
Override parse_override(const std::string& text);

// "column N: what" followed by the override and a caret under column N, for error messages:
//   override 'model..k=1': column 7: empty key segment before '.'
//     model..k=1
//           ^
std::string describe_column(const std::string& override_text, std::size_t column, const std::string& what);

// The `a.b.c` path split at its dots.
std::vector<std::string> split_key(const std::string& key);

}  // namespace armor
