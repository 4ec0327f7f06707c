#include "armor/config/override.h"

#include <cctype>

#include "armor/error.h"

namespace armor {
namespace {

[[noreturn]] void syntax_error(const std::string& text, std::size_t column, const std::string& what) {
  throw ConfigError("override '" + text + "': " + describe_column(text, column, what));
}

bool is_key_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'; }

// Checks `key` (starting at `offset` in `text`) is a dotted path of non-empty segments.
void check_key(const std::string& text, const std::string& key, std::size_t offset) {
  if (key.empty()) syntax_error(text, offset + 1, "expected a key");
  bool segment_start = true;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    if (c == '.') {
      if (segment_start) syntax_error(text, offset + i + 1, "empty key segment before '.'");
      segment_start = true;
    } else if (!is_key_char(c)) {
      syntax_error(text, offset + i + 1, std::string("unexpected character '") + c + "' in key");
    } else {
      segment_start = false;
    }
  }
  if (segment_start) syntax_error(text, offset + key.size(), "key ends with '.'");
}

}  // namespace

Override parse_override(const std::string& text) {
  Override result;
  result.text = text;
  std::size_t pos = 0;
  if (text.rfind('~', 0) == 0) {
    result.op = Override::Op::remove;
    pos = 1;
  } else if (text.rfind("++", 0) == 0) {
    result.op = Override::Op::add_or_replace;
    pos = 2;
  } else if (text.rfind('+', 0) == 0) {
    result.op = Override::Op::add;
    pos = 1;
  }
  const std::size_t equals = text.find('=', pos);
  if (result.op == Override::Op::remove) {
    // `~key` deletes; `~key=value` deletes only if the value matches in Hydra, which armor does not need.
    if (equals != std::string::npos) syntax_error(text, equals + 1, "'~key' takes no value");
    result.key = text.substr(pos);
    check_key(text, result.key, pos);
    return result;
  }
  if (equals == std::string::npos) {
    syntax_error(text, text.size() + 1, "expected '=' after the key (key=value, +key=value, ++key=value or ~key)");
  }
  result.key = text.substr(pos, equals - pos);
  check_key(text, result.key, pos);
  result.value_text = text.substr(equals + 1);
  if (result.value_text.empty()) syntax_error(text, equals + 2, "expected a value after '='");
  return result;
}

std::string describe_column(const std::string& override_text, std::size_t column, const std::string& what) {
  return "column " + std::to_string(column) + ": " + what + "\n    " + override_text + "\n    " +
         std::string(column > 0 ? column - 1 : 0, ' ') + "^";
}

std::vector<std::string> split_key(const std::string& key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace armor
