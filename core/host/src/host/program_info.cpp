#include "armor/host/program_info.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#ifndef ARMOR_BUILD_PLUGIN_DIR
#define ARMOR_BUILD_PLUGIN_DIR ""
#endif
#ifndef ARMOR_INSTALL_PLUGIN_DIR
#define ARMOR_INSTALL_PLUGIN_DIR ""
#endif

namespace armor {
namespace fs = std::filesystem;

std::string self_executable() { return fs::read_symlink("/proc/self/exe").string(); }

std::string source_revision() {
#ifdef ARMOR_SOURCE_DIR
  const std::string command = std::string("git -C '") + ARMOR_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[128] = {0};
    std::string text = fgets(buffer, sizeof buffer, pipe) != nullptr ? buffer : "";
    pclose(pipe);
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (!text.empty()) return text;
  }
#endif
  return "unknown";
}

std::string host_name() {
  char buffer[256] = {0};
  return gethostname(buffer, sizeof buffer - 1) == 0 ? buffer : "unknown";
}

std::vector<std::string> default_plugin_dirs() {
  const fs::path exe_dir = fs::path(self_executable()).parent_path();
  // An installed armor (<prefix>/bin/armor) loads the plugins installed with it, and only those:
  // never the build tree's, which may be newer, older or gone.
  const fs::path installed = exe_dir.parent_path() / "lib" / "armor" / "plugins";
  if (fs::is_directory(installed)) return {installed.string()};
  // In the build tree the plugins are next to the program.
  std::vector<std::string> dirs{(exe_dir / "plugins").string()};
  if (std::string(ARMOR_BUILD_PLUGIN_DIR) != dirs.front() && !std::string(ARMOR_BUILD_PLUGIN_DIR).empty()) {
    dirs.emplace_back(ARMOR_BUILD_PLUGIN_DIR);
  }
  if (!std::string(ARMOR_INSTALL_PLUGIN_DIR).empty()) dirs.emplace_back(ARMOR_INSTALL_PLUGIN_DIR);
  return dirs;
}

std::string library_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&library_dir), &info) == 0 || info.dli_fname == nullptr) return "";
  return fs::canonical(info.dli_fname).parent_path().string();
}

}  // namespace armor
