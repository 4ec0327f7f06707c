#include "armor/plugin/plugin_loader.h"

#include <filesystem>

#include <boost/dll/shared_library.hpp>

#include "armor/error.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/plugin_search.h"
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
  for (const auto& path : find_plugin_libraries(cli_paths, default_dirs)) load(path);
}

}  // namespace armor
