#pragma once
// Config: one TOML tree composed from an experiment file, the files it starts from, and
// command-line overrides. Every node keeps where it came from (file:line:col or the override),
// which is what configuration errors print.
//
// Composition order (later wins): the files of `defaults = [...]` in order (each composed the same
// way, paths relative to the including file), then the file itself, then the overrides in order.

#include <functional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "armor/config/override.h"
#include "armor/params/param_value.h"

namespace armor {

// A config-group selection: `model=resnet18` picks <dir>/model/resnet18.toml for section [model].
struct GroupChoice {
  std::string group;
  std::string option;
  std::string text;  // as the user wrote it
};
using GroupChoices = std::vector<GroupChoice>;

class Config;
// Whether `key` may be set without `+` although the composed config lacks it (it is declared by
// the plugin its section names, so it exists with its default).
using KeyDeclared = std::function<bool(const Config& config, const std::string& key)>;

class Config {
 public:
  Config() = default;

  // Loads and composes an experiment file, with `choices` replacing (or adding to) the group
  // choices of its defaults list. ConfigError on a missing file, TOML syntax error (with
  // file:line:col), a bad `defaults` entry, an unknown group or option, or a cycle of defaults.
  static Config load(const std::string& path, GroupChoices choices = {});
  // The whole composition: load with the group choices among `overrides` (`group=option`, no dot
  // in the key), apply the other overrides in order, then resolve `${...}` interpolations.
  static Config compose(const std::string& path, const std::vector<std::string>& overrides,
                        const KeyDeclared& declared = {});
  // Parses TOML text (tests, stored run configs); `source` names it in errors.
  static Config parse(const std::string& text, const std::string& source);

  // `key=value` on a key the config lacks is an error unless `declared` says it exists; without a
  // `declared` function every key may be set.
  void apply(const Override& override_, const KeyDeclared& declared = {});
  void apply(const std::vector<std::string>& overrides, const KeyDeclared& declared = {});
  // Replaces `${a.b}` references: a string that is one reference takes the referenced value with
  // its type; references inside a longer string are replaced by the value's text. ConfigError on a
  // missing key or a cycle.
  void interpolate();

  const toml::table& table() const noexcept { return table_; }
  toml::table& table() noexcept { return table_; }
  // The experiment file this config was loaded from ("" when parsed from text).
  const std::string& path() const noexcept { return path_; }

  std::string to_toml() const;

 private:
  std::string suggest_key(const std::string& key) const;

  toml::table table_;
  std::string path_;
};

// "file:line:col", or the override text for values that came from the command line.
std::string origin_of(const toml::node& node);

// A scalar node as a ParamValue; false when the node is a table or an array.
bool to_param_value(const toml::node& node, ParamValue& out);

// Every dotted key path of the scalar and array values below `table`.
void collect_keys(const toml::table& table, const std::string& prefix, std::vector<std::string>& out);

// Deep merge: tables merge key by key, every other value in `from` replaces the one in `into`.
void merge_into(toml::table& into, const toml::table& from);

}  // namespace armor
