#include <dlfcn.h>

#include <string>

#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/host/run_side.h"

namespace armor {

namespace {
RunSide* loaded_side = nullptr;
}  // namespace

RunSide& run_side() {
  static RunSide* const side = [] {
    const std::string path = library_dir() + "/libarmor_run.so";
    // Never closed: the plugins it loads and the objects they make live as long as the process.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) throw PluginError(path, std::string("cannot load armor's run side: ") + dlerror());
    void* entry = dlsym(handle, "armor_run_side");
    if (entry == nullptr) throw PluginError(path, "exports no armor_run_side entry point");
    loaded_side = reinterpret_cast<RunSide* (*)()>(entry)();
    return loaded_side;
  }();
  return *side;
}

std::string describe_error(const std::exception& error) {
  return loaded_side != nullptr ? loaded_side->describe(error) : error.what();
}

}  // namespace armor
