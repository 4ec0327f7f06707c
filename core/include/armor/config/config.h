#pragma once
// Config: one TOML tree composed from an experiment file, the files it starts from, and
// command-line overrides. Every node keeps where it came from (file:line:col or the override),
// which is what configuration errors print.
//
// Composition order (later wins): the files of `defaults = [...]` in order (each composed the same
// way, paths relative to the including file), then the file itself, then the overrides in order.

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "armor/config/override.h"
#include "armor/config/param_value.h"

namespace armor {

class Config {
 public:
  Config() = default;

  // Loads and composes an experiment file. ConfigError on a missing file, TOML syntax error
  // (with file:line:col), a bad `defaults` entry or a cycle of defaults.
  static Config load(const std::string& path);
  // Parses TOML text (tests, stored run configs); `source` names it in errors.
  static Config parse(const std::string& text, const std::string& source);

  void apply(const Override& override_);
  void apply(const std::vector<std::string>& overrides);

  const toml::table& table() const noexcept { return table_; }
  toml::table& table() noexcept { return table_; }
  // The experiment file this config was loaded from ("" when parsed from text).
  const std::string& path() const noexcept { return path_; }

  std::string to_toml() const;

 private:
  toml::table table_;
  std::string path_;
};

// "file:line:col", or the override text for values that came from the command line.
std::string origin_of(const toml::node& node);

// A scalar node as a ParamValue; false when the node is a table or an array.
bool to_param_value(const toml::node& node, ParamValue& out);

// Deep merge: tables merge key by key, every other value in `from` replaces the one in `into`.
void merge_into(toml::table& into, const toml::table& from);

}  // namespace armor
