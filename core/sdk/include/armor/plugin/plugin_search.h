#pragma once
// Where plugin libraries are found. Torch-free: the run side loads what this finds, and the host
// reads the same libraries' manifests without loading them.

#include <string>
#include <vector>

namespace armor {

// Every plugin library (a regular *.so file) of the search path, in load order: `cli_paths` first
// (--plugin-path), then ARMOR_PLUGIN_PATH (colon separated), then `default_dirs`; a path may be a
// folder (its *.so files, sorted) or a library. A file name found earlier hides the same name later.
// A path given explicitly that is neither a folder nor a .so file is a PluginError naming it; a
// missing default folder is skipped.
std::vector<std::string> find_plugin_libraries(const std::vector<std::string>& cli_paths,
                                               const std::vector<std::string>& default_dirs);

}  // namespace armor
