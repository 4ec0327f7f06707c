#pragma once
// Facts about the running armor program that runs record and launchers use.

#include <string>
#include <vector>

namespace armor {

// Path of the running executable (launchers start one process per run with it).
std::string self_executable();
// `git describe --always --dirty` of the source tree at the time armor was built ("unknown" outside
// one): the code that runs, whatever the tree holds since.
std::string build_revision();
// This machine's host name, as runs record it.
std::string host_name();
// The default plugin folders: <prefix>/lib/armor/plugins for an installed armor (<prefix>/bin/armor);
// otherwise next to the executable (build tree), then the configured install location.
std::vector<std::string> default_plugin_dirs();
// The folder of armor's own shared libraries (libarmor*.so), found from this library's own path.
std::string library_dir();

}  // namespace armor
