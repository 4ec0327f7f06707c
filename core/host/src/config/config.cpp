#include "armor/config/config.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

constexpr const char* kOverrideSourcePrefix = "override '";
constexpr const char* kInterpolationSourcePrefix = "interpolation '";

std::string describe_parse_error(const toml::parse_error& error) {
  const auto& source = error.source();
  std::string where = source.path ? *source.path : std::string("<toml>");
  if (where.rfind(kOverrideSourcePrefix, 0) != 0) {
    where += ":" + std::to_string(source.begin.line) + ":" + std::to_string(source.begin.column);
  }
  return where + ": TOML syntax error: " + std::string(error.description());
}

// armor's sections and keys are bare TOML keys (letters, digits, '_' and '-'). A quoted key with
// anything else means nothing to armor, and some (a lone quote) toml++ cannot print back as TOML
// that it reads again (found by tests/fuzz/config_fuzz.cpp), so a stored run config would not load.
void require_bare_keys(const toml::table& table, const std::string& source) {
  for (auto&& [key, node] : table) {
    const std::string_view name = key.str();
    const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
    });
    if (!bare) {
      const auto& where = key.source().begin;
      throw ConfigError(
          fmt::format("{}:{}:{}: key \"{}\" is not a bare key: armor's keys use letters, digits, "
                      "'_' and '-' only",
                      source, where.line, where.column, name));
    }
    if (const toml::table* child = node.as_table()) require_bare_keys(*child, source);
    if (const toml::array* list = node.as_array()) {
      for (const toml::node& item : *list) {
        if (const toml::table* element = item.as_table()) require_bare_keys(*element, source);
      }
    }
  }
}

toml::table parse_text(const std::string& text, const std::string& source) {
  toml::table table;
  try {
    table = toml::parse(text, source);
  } catch (const toml::parse_error& error) {
    throw ConfigError(describe_parse_error(error));
  }
  require_bare_keys(table, source);
  return table;
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

// Config groups: `<group>/<option>.toml` in the experiment's folder or the nearest parent folder
// that has one. The folders searched, nearest first.
std::vector<fs::path> group_search_dirs(const fs::path& experiment) {
  std::vector<fs::path> dirs;
  for (fs::path dir = fs::weakly_canonical(experiment).parent_path(); !dir.empty(); dir = dir.parent_path()) {
    dirs.push_back(dir);
    if (dir == dir.root_path()) break;
  }
  return dirs;
}

std::vector<std::string> toml_files_in(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;  // unreadable folders are skipped, never an exception
  if (!fs::is_directory(dir, error)) return names;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".toml") names.push_back(it->path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The file of `group`'s `option`; ConfigError naming the group and the options there are.
fs::path group_option_file(const fs::path& experiment, const std::string& group, const std::string& option,
                           const std::string& where) {
  std::vector<std::string> groups;
  for (const fs::path& dir : group_search_dirs(experiment)) {
    const fs::path folder = dir / group;
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
      for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        std::error_code ignored;
        if (it->is_directory(ignored) && !toml_files_in(it->path()).empty())
          groups.push_back(it->path().filename().string());
      }
      continue;
    }
    fs::path file = folder / (option + ".toml");
    if (fs::exists(file)) return file;
    std::string list;
    const std::vector<std::string> options = toml_files_in(folder);
    for (const auto& name : options) list += (list.empty() ? "" : ", ") + name;
    throw ConfigError(where + ": config group '" + group + "' has no option '" + option + "'" +
                      did_you_mean(option, options) + " in " + folder.string() + "; options: " + list);
  }
  std::sort(groups.begin(), groups.end());
  groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
  throw ConfigError(where + ": unknown config group '" + group + "'" + did_you_mean(group, groups) + " (no folder '" +
                    group + "/' beside " + experiment.string() + " or above it)");
}

toml::table compose_file(const fs::path& path, std::vector<fs::path>& stack, GroupChoices* choices);

// One group option, its keys placed under the group's table.
toml::table compose_group(const fs::path& experiment, const std::string& group, const std::string& option,
                          const std::string& where, std::vector<fs::path>& stack) {
  toml::table content = compose_file(group_option_file(experiment, group, option, where), stack, nullptr);
  toml::table nested;
  nested.insert(group, std::move(content));
  return nested;
}

// Loads `path`: the entries of its `defaults` list in order (files, and `{ group = "option" }`
// choices), then the file itself. `choices` (top-level file only) replace the option of a group the
// defaults list names, or are added after the list; each one used is erased from `choices`.
toml::table compose_file(const fs::path& path, std::vector<fs::path>& stack, GroupChoices* choices) {
  const fs::path canonical = fs::weakly_canonical(path);
  for (const auto& open : stack) {
    if (open == canonical) throw ConfigError(path.string() + ": defaults form a cycle through this file");
  }
  stack.push_back(canonical);
  toml::table own = parse_file(path);
  toml::table composed;
  auto take_choice = [&](const std::string& group, std::string& option, std::string& where) {
    if (choices == nullptr) return;
    for (auto it = choices->begin(); it != choices->end(); ++it) {
      if (it->group == group) {
        option = it->option;
        where = "override '" + it->text + "'";
        choices->erase(it);
        return;
      }
    }
  };
  if (const toml::node* defaults = own.get("defaults")) {
    const toml::array* list = defaults->as_array();
    if (list == nullptr) {
      throw ConfigError(origin_of(*defaults) +
                        ": defaults must be an array of file names and { group = \"option\" } tables");
    }
    for (const toml::node& entry : *list) {
      if (const auto* choice = entry.as_table()) {
        for (const auto& [group_key, option_node] : *choice) {
          const auto* option_text = option_node.as_string();
          if (option_text == nullptr)
            throw ConfigError(origin_of(option_node) + ": a group choice names an option (a string)");
          const std::string group(group_key.str());
          std::string option = option_text->get();
          std::string where = origin_of(option_node);
          take_choice(group, option, where);
          merge_moving(composed, compose_group(path, group, option, where, stack));
        }
        continue;
      }
      const auto* name = entry.as_string();
      if (name == nullptr)
        throw ConfigError(origin_of(entry) + ": defaults entries are file names or { group = \"option\" } tables");
      fs::path base = path.parent_path() / name->get();
      if (!base.has_extension()) base += ".toml";
      if (!fs::exists(base)) {
        throw ConfigError(origin_of(entry) + ": defaults entry '" + name->get() + "' not found (looked for " +
                          base.string() + ")");
      }
      merge_moving(composed, compose_file(base, stack, nullptr));
    }
    own.erase("defaults");
  }
  if (choices != nullptr) {
    for (const GroupChoice& choice : *choices) {
      merge_moving(composed, compose_group(path, choice.group, choice.option, "override '" + choice.text + "'", stack));
    }
    choices->clear();
  }
  merge_moving(composed, std::move(own));
  stack.pop_back();
  return composed;
}

const toml::node* find_path(const toml::table& root, const std::string& dotted) {
  const toml::node* node = &root;
  for (const auto& part : split_key(dotted)) {
    const auto* table = node->as_table();
    if (table == nullptr) return nullptr;
    node = table->get(part);
    if (node == nullptr) return nullptr;
  }
  return node;
}

toml::node* find_path(toml::table& root, const std::string& dotted) {
  return const_cast<toml::node*>(find_path(static_cast<const toml::table&>(root), dotted));
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
    // Brackets, braces or quotes mean TOML was meant (and mistyped); `${...}` references do not.
    static const std::regex reference(R"(\$\{[^}]*\})");
    const std::string without_references = std::regex_replace(override_.value_text, reference, "");
    const bool looks_like_toml = without_references.find_first_of("\"'[]{}") != std::string::npos;
    if (looks_like_toml) {
      // Report the column within the override as the user typed it.
      const std::size_t value_column = override_.text.size() - override_.value_text.size() + 1;
      const std::size_t column = value_column + (error.source().begin.column > 4 ? error.source().begin.column - 5 : 0);
      throw ConfigError(source + ": " + describe_column(override_.text, column, std::string(error.description())));
    }
    return parse_text(toml_assignment(override_.value_text), source);
  }
}

}  // namespace

std::string origin_of(const toml::node& node) {
  const auto& source = node.source();
  if (!source.path) return "<unknown>";
  if (source.path->rfind(kOverrideSourcePrefix, 0) == 0 || source.path->rfind(kInterpolationSourcePrefix, 0) == 0) {
    return *source.path;
  }
  return *source.path + ":" + std::to_string(source.begin.line) + ":" + std::to_string(source.begin.column);
}

bool to_param_value(const toml::node& node, ParamValue& out) {
  if (const auto* v = node.as_boolean()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_integer()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_floating_point()) {
    out = v->get();
    return true;
  }
  if (const auto* v = node.as_string()) {
    out = v->get();
    return true;
  }
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

Config Config::load(const std::string& path, GroupChoices choices) {
  if (!fs::exists(path)) throw ConfigError(path + ": experiment file not found");
  std::vector<fs::path> stack;
  Config config;
  config.table_ = compose_file(path, stack, &choices);
  config.path_ = path;
  return config;
}

Config Config::compose(const std::string& path, const std::vector<std::string>& overrides,
                       const KeyDeclared& declared) {
  GroupChoices choices;
  std::vector<Override> key_overrides;
  for (const auto& text : overrides) {
    Override parsed = parse_override(text);
    if (parsed.op == Override::Op::set && parsed.key.find('.') == std::string::npos) {
      choices.push_back({parsed.key, parsed.value_text, text});
    } else {
      key_overrides.push_back(std::move(parsed));
    }
  }
  Config config = load(path, std::move(choices));
  for (const auto& override_ : key_overrides) config.apply(override_, declared);
  config.interpolate();
  return config;
}

Config Config::parse(const std::string& text, const std::string& source) {
  Config config;
  config.table_ = parse_text(text, source);
  return config;
}

void Config::apply(const Override& override_, const KeyDeclared& declared) {
  const std::vector<std::string> path = split_key(override_.key);
  const std::string where = kOverrideSourcePrefix + override_.text + "'";
  const bool exists = find_path(table_, override_.key) != nullptr;
  switch (override_.op) {
    case Override::Op::remove:
      if (!exists)
        throw ConfigError(where + ": there is no key " + override_.key + " to delete" + suggest_key(override_.key));
      break;
    case Override::Op::add:
      if (exists) {
        throw ConfigError(where + ": " + override_.key + " is already set (at " +
                          origin_of(*find_path(table_, override_.key)) + "); use '" + override_.key + "=...' or '++" +
                          override_.key + "=...' to replace it");
      }
      break;
    case Override::Op::set:
      // Like Hydra: `key=value` changes what is there; adding takes a `+`. Keys the section's
      // plugin declares count as there, with their defaults. Checked before any table is created.
      if (!exists && declared && !declared(*this, override_.key)) {
        throw ConfigError(where + ": key " + override_.key + " is not in the config" + suggest_key(override_.key) +
                          "; use +" + override_.text + " to add it");
      }
      break;
    case Override::Op::add_or_replace: break;
  }
  // Parsed before the path is created, so that a bad value leaves the config as it was.
  toml::table parsed = override_.op == Override::Op::remove ? toml::table{} : parse_override_value(override_);
  toml::table* parent = &table_;
  for (std::size_t i = 0; i + 1 < path.size(); ++i) {
    toml::node* child = parent->get(path[i]);
    if (child == nullptr) child = &parent->insert(path[i], toml::table{}).first->second;
    parent = child->as_table();
    if (parent == nullptr) {
      throw ConfigError(where + ": " + path[i] + " is a value, not a table, in " + override_.key);
    }
  }
  if (override_.op == Override::Op::remove) {
    parent->erase(path.back());
  } else {
    parent->insert_or_assign(path.back(), std::move(*parsed.get("v")));
  }
}

void collect_keys(const toml::table& table, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (const auto* sub = node.as_table()) {
      collect_keys(*sub, path, out);
    } else {
      out.push_back(path);
    }
  }
}

namespace {

// Resolves the `${...}` references of every string below one node, depth first, so that a
// reference always reads a final value. `stack` holds the keys being resolved (for cycles).
class Interpolator {
 public:
  explicit Interpolator(toml::table& root) : root_(root) {}

  void resolve_all(toml::table& table, const std::string& prefix) {
    std::vector<std::string> keys;
    for (const auto& [key, node] : table) keys.emplace_back(key.str());
    for (const auto& key : keys) {
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      if (auto* sub = table.get(key)->as_table()) {
        resolve_all(*sub, path);
      } else {
        resolve(path);
      }
    }
  }

 private:
  void resolve(const std::string& path) {
    if (done_.count(path) != 0) return;
    toml::node* node = find_path(root_, path);
    const auto* text_node = node != nullptr ? node->as_string() : nullptr;
    if (text_node == nullptr || text_node->get().find("${") == std::string::npos) {
      done_.insert(path);
      return;
    }
    for (const auto& open : stack_) {
      if (open == path) throw ConfigError(origin_of(*node) + ": interpolation cycle: " + cycle_text(path));
    }
    stack_.push_back(path);
    const std::string text = text_node->get();
    const std::string where = origin_of(*node);
    std::string result;
    std::size_t position = 0;
    while (true) {
      const std::size_t open = text.find("${", position);
      if (open == std::string::npos) break;
      const std::size_t close = text.find('}', open);
      if (close == std::string::npos) throw ConfigError(where + ": unterminated '${' in \"" + text + "\"");
      const std::string reference = text.substr(open + 2, close - open - 2);
      const toml::node* target = referenced(reference, where);
      result += text.substr(position, open - position);
      if (open == 0 && close + 1 == text.size()) {  // the whole value: keep the referenced type
        replace_with_copy(path, *target, "${" + reference + "}", where);
        stack_.pop_back();
        done_.insert(path);
        return;
      }
      ParamValue value;
      if (!to_param_value(*target, value)) {
        throw ConfigError(where + ": ${" + reference + "} is a table or array and cannot be part of a string");
      }
      result += std::holds_alternative<std::string>(value) ? std::get<std::string>(value) : to_display_string(value);
      position = close + 1;
    }
    result += text.substr(position);
    toml::table parsed = toml::parse(toml_assignment(result), kInterpolationSourcePrefix + text + "' at " + where);
    replace(path, std::move(*parsed.get("v")));
    stack_.pop_back();
    done_.insert(path);
  }

  const toml::node* referenced(const std::string& reference, const std::string& where) {
    if (reference.empty()) throw ConfigError(where + ": empty interpolation '${}'");
    if (find_path(root_, reference) == nullptr) {
      std::vector<std::string> keys;
      collect_keys(root_, "", keys);
      throw ConfigError(where + ": ${" + reference + "} refers to a key that is not in the config" +
                        did_you_mean(reference, keys));
    }
    if (find_path(root_, reference)->is_table()) {
      throw ConfigError(where + ": ${" + reference + "} refers to a table; interpolation takes values");
    }
    resolve(reference);
    return find_path(root_, reference);
  }

  void replace_with_copy(const std::string& path, const toml::node& target, const std::string& reference,
                         const std::string& where) {
    toml::table wrapper;
    wrapper.insert("v", target);
    std::ostringstream text;
    text << toml::toml_formatter(wrapper, toml::format_flags::none);
    toml::table parsed = toml::parse(text.str(), kInterpolationSourcePrefix + reference + "' at " + where);
    replace(path, std::move(*parsed.get("v")));
  }

  void replace(const std::string& path, toml::node&& value) {
    const auto parts = split_key(path);
    toml::table* parent = &root_;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) parent = parent->get(parts[i])->as_table();
    parent->insert_or_assign(parts.back(), std::move(value));
  }

  std::string cycle_text(const std::string& path) const {
    std::string text;
    bool in_cycle = false;
    for (const auto& key : stack_) {
      if (key == path) in_cycle = true;
      if (in_cycle) text += key + " -> ";
    }
    return text + path;
  }

  toml::table& root_;
  std::vector<std::string> stack_;
  std::set<std::string> done_;
};

}  // namespace

void Config::interpolate() {
  Interpolator interpolator(table_);
  interpolator.resolve_all(table_, "");
}

void Config::apply(const std::vector<std::string>& overrides, const KeyDeclared& declared) {
  for (const auto& text : overrides) apply(parse_override(text), declared);
}

std::string Config::suggest_key(const std::string& key) const {
  std::vector<std::string> keys;
  collect_keys(table_, "", keys);
  const std::string match = closest_match(key, keys);
  return match.empty() ? std::string() : " (did you mean '" + match + "'?)";
}

std::string Config::to_toml() const {
  std::ostringstream out;
  out << toml::toml_formatter(table_, toml::format_flags::none);
  return out.str() + "\n";
}

}  // namespace armor
