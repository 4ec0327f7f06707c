#include "armor/host/plugin_manifest.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "armor/error.h"
#include "armor/host/program_info.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/plugin_search.h"
#include "armor/util/sha256.h"

namespace armor {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kManifestFormat = 2;  // 2: declared constraints
constexpr const char* kBuiltIn = "built-in";

// A catalog made from manifests: schemas without their checks.
class ManifestCatalog : public Catalog {
 public:
  bool has_checks() const override { return false; }
};

// What identifies one build of a library: its size and modification time.
json file_stamp(const std::string& path) {
  std::error_code error;
  const auto size = fs::file_size(path, error);
  if (error) return nullptr;
  const auto time = fs::last_write_time(path, error);
  if (error) return nullptr;
  return json{{"size", size}, {"mtime", time.time_since_epoch().count()}};
}

std::string manifest_path(const std::string& library) {
  std::error_code error;
  const fs::path canonical = fs::canonical(library, error);
  return manifest_dir() + "/" + sha256_hex(error ? library : canonical.string()).substr(0, 24) + ".json";
}

json to_json(const ParamValue& value) {
  return std::visit([](const auto& v) { return json(v); }, value);
}

ParamValue param_value_from(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_number_integer()) return value.get<std::int64_t>();
  if (value.is_number()) return value.get<double>();
  return value.get<std::string>();
}

json to_json(const ParamSpec& spec) {
  json out{
      {"name", spec.name}, {"type", to_string(spec.type)}, {"default", to_json(spec.default_value)}, {"doc", spec.doc}};
  if (spec.min) out["min"] = *spec.min;
  if (spec.max) out["max"] = *spec.max;
  if (!spec.choices.empty()) out["choices"] = spec.choices;
  return out;
}

std::optional<double> bound(const json& spec, const char* key) {
  return spec.contains(key) ? std::optional<double>(spec.at(key).get<double>()) : std::nullopt;
}

void add_spec(ParamSchema& schema, const json& spec) {
  const std::string name = spec.at("name").get<std::string>();
  const std::string type = spec.at("type").get<std::string>();
  const std::string doc = spec.at("doc").get<std::string>();
  const ParamValue value = param_value_from(spec.at("default"));
  if (type == to_string(ParamType::boolean)) {
    schema.boolean(name, std::get<bool>(value), doc);
  } else if (type == to_string(ParamType::integer)) {
    schema.integer(name, std::get<std::int64_t>(value), doc, bound(spec, "min"), bound(spec, "max"));
  } else if (type == to_string(ParamType::real)) {
    const double real = std::holds_alternative<double>(value) ? std::get<double>(value)
                                                              : static_cast<double>(std::get<std::int64_t>(value));
    schema.real(name, real, doc, bound(spec, "min"), bound(spec, "max"));
  } else {
    schema.string(name, std::get<std::string>(value), doc, spec.value("choices", std::vector<std::string>{}));
  }
}

// The components of one manifest, added to `catalog`; false when it is missing or stale.
bool read_manifest(const std::string& library, Catalog& catalog) {
  std::ifstream in(manifest_path(library));
  if (!in) return false;
  try {
    const json manifest = json::parse(in);
    if (manifest.at("format") != kManifestFormat || manifest.at("api_version") != kApiVersion ||
        manifest.at("stamp") != file_stamp(library)) {
      return false;
    }
    for (const json& component : manifest.at("components")) {
      ComponentInfo info;
      info.kind = plugin_kind_from_string(component.at("kind").get<std::string>());
      info.name = component.at("name").get<std::string>();
      info.summary = component.at("summary").get<std::string>();
      info.library = component.at("library").get<std::string>();
      for (const json& spec : component.at("params")) add_spec(info.params, spec);
      for (const json& constraint : component.at("constraints")) {
        info.params.constraint(constraint.at("expression").get<std::string>(), constraint.at("doc").get<std::string>());
      }
      catalog.add(std::move(info));
    }
  } catch (const std::exception&) {
    return false;  // unreadable or from another armor: the plugins are loaded instead
  }
  return true;
}

}  // namespace

std::string manifest_dir() {
  if (const char* dir = std::getenv("ARMOR_CACHE_DIR"); dir != nullptr && *dir != '\0')
    return std::string(dir) + "/manifests";
  if (const char* dir = std::getenv("XDG_CACHE_HOME"); dir != nullptr && *dir != '\0')
    return std::string(dir) + "/armor/manifests";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home != '\0' ? home : "/tmp") + "/.cache/armor/manifests";
}

std::string builtin_library() { return library_dir() + "/libarmor.so"; }

void write_manifest(const Catalog& catalog, const std::string& library) {
  const std::string file = library == kBuiltIn ? builtin_library() : library;
  const json stamp = file_stamp(file);
  if (stamp.is_null()) return;
  json components = json::array();
  for (const ComponentInfo* info : catalog.components()) {
    if (info->library != library) continue;
    json params = json::array();
    for (const ParamSpec& spec : info->params.specs()) params.push_back(to_json(spec));
    json constraints = json::array();
    for (const ParamConstraint& constraint : info->params.constraints()) {
      constraints.push_back({{"expression", constraint.expression}, {"doc", constraint.doc}});
    }
    components.push_back({{"kind", to_string(info->kind)},
                          {"name", info->name},
                          {"summary", info->summary},
                          {"library", info->library},
                          {"params", params},
                          {"constraints", constraints},
                          {"checks", info->params.checks().size()}});
  }
  const json manifest{{"format", kManifestFormat},
                      {"api_version", kApiVersion},
                      {"library", file},
                      {"stamp", stamp},
                      {"components", components}};
  std::error_code error;
  fs::create_directories(manifest_dir(), error);
  const std::string path = manifest_path(file);
  const std::string temporary = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream out(temporary);
    if (!(out << manifest.dump(1))) return;
  }
  fs::rename(temporary, path, error);  // atomic: a concurrent reader sees the old file or the new one
  if (error) fs::remove(temporary, error);
}

std::unique_ptr<Catalog> catalog_from_manifests(const PluginSearch& search) {
  auto catalog = std::make_unique<ManifestCatalog>();
  try {
    if (!read_manifest(builtin_library(), *catalog)) return nullptr;
    for (const std::string& library : find_plugin_libraries(search.cli_paths, search.default_dirs)) {
      if (!read_manifest(library, *catalog)) return nullptr;
    }
  } catch (const Error&) {
    return nullptr;  // a bad path or a duplicate: loading the plugins reports it properly
  }
  return catalog;
}

}  // namespace armor
