#pragma once
// Plugin manifests: what a plugin library registers (kind, name, summary, parameter schema) written
// down by the run side whenever it loads the library, so that the host can compose and check
// configs (`armor config`) without loading LibTorch. One JSON file per library in the manifest cache
// (manifest_dir()), valid while the library's size and modification time are the recorded ones.
// A schema's cross-parameter checks are code: a catalog read from manifests has none
// (Catalog::has_checks() is false), and they run wherever the plugins are loaded.

#include <memory>
#include <string>
#include <vector>

#include "armor/host/run_side.h"
#include "armor/plugin/catalog.h"

namespace armor {

// $ARMOR_CACHE_DIR, else $XDG_CACHE_HOME/armor, else $HOME/.cache/armor; then /manifests.
std::string manifest_dir();

// The library whose manifest holds the SDK's built-in components (libarmor.so).
std::string builtin_library();

// Writes the manifest of `library` with the components of `catalog` whose library is `library`
// ("built-in" components go to builtin_library()'s manifest). Best effort: a cache that cannot be
// written leaves `armor config` on the slow path, never fails the command.
void write_manifest(const Catalog& catalog, const std::string& library);

// The catalog of the built-ins and every library of the search path, from their manifests; nullptr
// when any manifest is missing, unreadable or stale (then the caller loads the plugins).
std::unique_ptr<Catalog> catalog_from_manifests(const PluginSearch& search);

}  // namespace armor
