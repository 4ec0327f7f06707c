#include "armor/plugin/plugin_search.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <utility>

#include "armor/error.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

bool is_plugin_file(const fs::path& path) { return path.extension() == ".so" && fs::is_regular_file(path); }

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

std::vector<std::string> find_plugin_libraries(const std::vector<std::string>& cli_paths,
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
  std::vector<std::string> paths;
  for (const auto& name : order) paths.push_back(chosen.at(name));
  return paths;
}

}  // namespace armor
