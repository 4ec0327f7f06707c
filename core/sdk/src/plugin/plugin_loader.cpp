#include "armor/plugin/plugin_loader.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include <boost/dll/shared_library.hpp>

#include "armor/error.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

// Never destroyed: unloading a plugin whose objects may still live (even during static
// destruction at exit) would leave dangling vtables and deleters.
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>();
  return *libraries;
}

bool is_plugin_file(const fs::path& path) {
  return path.extension() == ".so" && fs::is_regular_file(path);
}

std::vector<std::string> split_colon_list(const char* text) {
  std::vector<std::string> parts;
  if (text == nullptr) return parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ':')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

}  // namespace

void PluginLoader::load(const std::string& path) {
  if (!fs::exists(path)) throw PluginError(path, "no such file");
  boost::dll::shared_library library;
  try {
    library.load(path, boost::dll::load_mode::rtld_lazy);
  } catch (const std::exception& error) {
    throw PluginError(path, std::string("not a loadable shared library: ") + error.what());
  }
  if (!library.has("armor_plugin")) {
    throw PluginError(path, "not an armor plugin: it exports no 'armor_plugin' entry point (use ARMOR_PLUGIN)");
  }
  const PluginInfo* info = nullptr;
  try {
    info = library.get_alias<PluginEntryPoint>("armor_plugin")();
  } catch (const std::exception& error) {
    throw PluginError(path, std::string("its entry point failed: ") + error.what());
  }
  if (info == nullptr) throw PluginError(path, "its entry point returned no plugin info");
  if (info->api_version != kApiVersion) {
    throw PluginError(path, "plugin API version " + std::to_string(info->api_version) +
                                ", this armor supports version " + std::to_string(kApiVersion) +
                                " (rebuild the plugin against this SDK)");
  }
  registry_.set_registering_library(path);
  try {
    info->register_components(registry_);
  } catch (const PluginError&) {
    registry_.set_registering_library("built-in");
    throw;
  } catch (const std::exception& error) {
    registry_.set_registering_library("built-in");
    throw PluginError(path, std::string("registering its components failed: ") + error.what());
  }
  registry_.set_registering_library("built-in");
  loaded_libraries().push_back(std::move(library));
  loaded_.push_back({path, info->name ? info->name : "", info->version ? info->version : ""});
}

void PluginLoader::load_search_path(const std::vector<std::string>& cli_paths,
                                    const std::vector<std::string>& default_dirs) {
  std::vector<std::pair<std::string, bool>> dirs;  // (folder, must exist)
  for (const auto& dir : cli_paths) dirs.emplace_back(dir, true);
  for (const auto& dir : split_colon_list(std::getenv("ARMOR_PLUGIN_PATH"))) dirs.emplace_back(dir, true);
  for (const auto& dir : default_dirs) dirs.emplace_back(dir, false);

  std::map<std::string, std::string> chosen;  // file name -> path, the first folder wins
  std::vector<std::string> order;
  for (const auto& [dir, required] : dirs) {
    if (is_plugin_file(dir)) {  // a library named directly
      const std::string name = fs::path(dir).filename().string();
      if (chosen.emplace(name, dir).second) order.push_back(name);
      continue;
    }
    if (!fs::is_directory(dir)) {
      if (required) throw PluginError(dir, "plugin path is not a folder or a .so file");
      continue;
    }
    std::vector<fs::path> files;
    for (const auto& item : fs::directory_iterator(dir)) {
      if (is_plugin_file(item.path())) files.push_back(item.path());
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      const std::string name = file.filename().string();
      if (chosen.emplace(name, file.string()).second) order.push_back(name);
    }
  }
  for (const auto& name : order) load(chosen.at(name));
}

}  // namespace armor
