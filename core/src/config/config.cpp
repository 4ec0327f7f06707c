// The one translation unit that compiles toml++ (the rest of armor sees it with TOML_HEADER_ONLY=0).
#define TOML_IMPLEMENTATION
#include "armor/config/config.h"

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "armor/error.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

constexpr const char* kOverrideSourcePrefix = "override '";

std::string describe_parse_error(const toml::parse_error& error) {
  const auto& source = error.source();
  std::string where = source.path ? *source.path : std::string("<toml>");
  if (where.rfind(kOverrideSourcePrefix, 0) != 0) {
    where += ":" + std::to_string(source.begin.line) + ":" + std::to_string(source.begin.column);
  }
  return where + ": TOML syntax error: " + std::string(error.description());
}

toml::table parse_text(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw ConfigError(describe_parse_error(error));
  }
}

toml::table parse_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path.string() + ": cannot open the config file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_text(buffer.str(), path.string());
}

// merge_into for a table that is not needed afterwards: the nodes are moved, not copied, because
// toml++ drops a node's source position when it copies it (positions are what errors print).
void merge_moving(toml::table& into, toml::table&& from) {
  for (auto&& [key, node] : from) {
    auto* from_table = node.as_table();
    auto* into_table = into[key].as_table();
    if (from_table != nullptr && into_table != nullptr) {
      merge_moving(*into_table, std::move(*from_table));
    } else {
      into.insert_or_assign(key, std::move(node));
    }
  }
}

// Loads `path` and the files named in its `defaults` list, merged in order, the file last.
toml::table compose_file(const fs::path& path, std::vector<fs::path>& stack) {
  const fs::path canonical = fs::weakly_canonical(path);
  for (const auto& open : stack) {
    if (open == canonical) throw ConfigError(path.string() + ": defaults form a cycle through this file");
  }
  stack.push_back(canonical);
  toml::table own = parse_file(path);
  toml::table composed;
  if (const toml::node* defaults = own.get("defaults")) {
    const toml::array* list = defaults->as_array();
    if (list == nullptr) {
      throw ConfigError(origin_of(*defaults) + ": defaults must be an array of file names");
    }
    for (const toml::node& entry : *list) {
      const auto* name = entry.as_string();
      if (name == nullptr) throw ConfigError(origin_of(entry) + ": defaults entries must be strings");
      fs::path base = path.parent_path() / name->get();
      if (!base.has_extension()) base += ".toml";
      if (!fs::exists(base)) {
        throw ConfigError(origin_of(entry) + ": defaults entry '" + name->get() + "' not found (looked for " +
                          base.string() + ")");
      }
      merge_moving(composed, compose_file(base, stack));
    }
    own.erase("defaults");
  }
  merge_moving(composed, std::move(own));
  stack.pop_back();
  return composed;
}

// "v = <value>" in TOML syntax; reparsed so that the node's source names the override.
template <typename T>
std::string toml_assignment(const T& value) {
  toml::table table;
  table.insert("v", value);
  std::ostringstream out;
  out << toml::toml_formatter(table, toml::format_flags::none);
  return out.str();
}

// The value of an override as a TOML node: TOML syntax, a fraction, or a bare word (a string).
toml::table parse_override_value(const Override& override_) {
  static const std::regex fraction(R"(^\s*([+-]?\d+(\.\d*)?)\s*/\s*(\d+(\.\d*)?)\s*$)");
  const std::string source = kOverrideSourcePrefix + override_.text + "'";
  std::smatch match;
  if (std::regex_match(override_.value_text, match, fraction)) {
    const double denominator = std::stod(match[3].str());
    if (denominator == 0) throw ConfigError(source + ": division by zero in '" + override_.value_text + "'");
    return parse_text(toml_assignment(std::stod(match[1].str()) / denominator), source);
  }
  try {
    return toml::parse("v = " + override_.value_text, source);
  } catch (const toml::parse_error& error) {
    const char first = override_.value_text.front();
    const bool looks_like_toml = first == '[' || first == '{' || first == '"' || first == '\'' ||
                                 override_.value_text.find_first_of("\"'[]{}") != std::string::npos;
    if (looks_like_toml) {
      // Report the column within the override as the user typed it.
      const std::size_t value_column = override_.text.size() - override_.value_text.size() + 1;
      const std::size_t column = value_column + (error.source().begin.column > 4 ? error.source().begin.column - 5 : 0);
      throw ConfigError(source + ": column " + std::to_string(column) + ": " + std::string(error.description()));
    }
    return parse_text(toml_assignment(override_.value_text), source);
  }
}

}  // namespace

std::string origin_of(const toml::node& node) {
  const auto& source = node.source();
  if (!source.path) return "<unknown>";
  if (source.path->rfind(kOverrideSourcePrefix, 0) == 0) return *source.path;
  return *source.path + ":" + std::to_string(source.begin.line) + ":" + std::to_string(source.begin.column);
}

bool to_param_value(const toml::node& node, ParamValue& out) {
  if (const auto* v = node.as_boolean()) { out = v->get(); return true; }
  if (const auto* v = node.as_integer()) { out = v->get(); return true; }
  if (const auto* v = node.as_floating_point()) { out = v->get(); return true; }
  if (const auto* v = node.as_string()) { out = v->get(); return true; }
  return false;
}

void merge_into(toml::table& into, const toml::table& from) {
  for (const auto& [key, node] : from) {
    const auto* from_table = node.as_table();
    auto* into_table = into[key].as_table();
    if (from_table != nullptr && into_table != nullptr) {
      merge_into(*into_table, *from_table);
    } else {
      into.insert_or_assign(key, node);
    }
  }
}

Config Config::load(const std::string& path) {
  if (!fs::exists(path)) throw ConfigError(path + ": experiment file not found");
  std::vector<fs::path> stack;
  Config config;
  config.table_ = compose_file(path, stack);
  config.path_ = path;
  return config;
}

Config Config::parse(const std::string& text, const std::string& source) {
  Config config;
  config.table_ = parse_text(text, source);
  return config;
}

void Config::apply(const Override& override_) {
  const std::vector<std::string> path = split_key(override_.key);
  const std::string where = kOverrideSourcePrefix + override_.text + "'";
  toml::table* parent = &table_;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    toml::node* child = parent->get(path[i]);
    if (child == nullptr) {
      if (override_.op == Override::Op::remove) throw ConfigError(where + ": there is no key " + override_.key + " to delete");
      child = &parent->insert(path[i], toml::table{}).first->second;
    }
    parent = child->as_table();
    if (parent == nullptr) {
      throw ConfigError(where + ": " + path[i] + " is a value, not a table, in " + override_.key);
    }
  }
  const std::string& leaf = path.back();
  const bool exists = parent->contains(leaf);
  switch (override_.op) {
    case Override::Op::remove:
      if (!exists) throw ConfigError(where + ": there is no key " + override_.key + " to delete");
      parent->erase(leaf);
      return;
    case Override::Op::add:
      if (exists) {
        throw ConfigError(where + ": " + override_.key + " is already set (at " + origin_of(*parent->get(leaf)) +
                          "); use '" + override_.key + "=...' or '++" + override_.key + "=...' to replace it");
      }
      break;
    case Override::Op::set:
    case Override::Op::add_or_replace:
      break;
  }
  toml::table parsed = parse_override_value(override_);
  parent->insert_or_assign(leaf, std::move(*parsed.get("v")));
}

void Config::apply(const std::vector<std::string>& overrides) {
  for (const auto& text : overrides) apply(parse_override(text));
}

std::string Config::to_toml() const {
  std::ostringstream out;
  out << toml::toml_formatter(table_, toml::format_flags::none);
  return out.str() + "\n";
}

}  // namespace armor
