#pragma once
// PluginLoader: finds plugin libraries, checks their API version and lets them register into a
// Registry. Loaded libraries are never unloaded while the process lives: modules, autograd nodes
// and deleters made by a plugin point into its code.

#include <string>
#include <vector>

namespace armor {

class Registry;

struct LoadedPlugin {
  std::string path;
  std::string name;
  std::string version;
};

class PluginLoader {
 public:
  explicit PluginLoader(Registry& registry) : registry_(registry) {}

  // Loads one library. PluginError naming the path when it is not a shared library, has no
  // armor_plugin entry point, was built for another API version, registers a duplicate
  // (kind, name) or throws while registering.
  void load(const std::string& path);

  // Loads every plugin library of the search path (find_plugin_libraries in plugin_search.h): `cli_paths` first
  // (--plugin-path), then ARMOR_PLUGIN_PATH (colon separated), then `default_dirs`. A file name found
  // in an earlier folder hides the same file name in later ones. A folder given explicitly that
  // does not exist is an error; a missing default folder is skipped.
  void load_search_path(const std::vector<std::string>& cli_paths, const std::vector<std::string>& default_dirs);

  const std::vector<LoadedPlugin>& loaded() const noexcept { return loaded_; }

 private:
  Registry& registry_;
  std::vector<LoadedPlugin> loaded_;
};

}  // namespace armor
