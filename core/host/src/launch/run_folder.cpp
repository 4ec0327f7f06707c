#include "armor/launch/run_folder.h"

#include <filesystem>
#include <fstream>

#include <fmt/core.h>
#include <toml++/toml.h>

#include "armor/error.h"
#include "armor/store/results_reader.h"
#include "armor/util/sha256.h"

namespace armor {
namespace fs = std::filesystem;

namespace {

void write_identity(const std::string& folder, const RunFolderOwner& owner) {
  toml::table identity;
  identity.insert("run_uid", owner.run_uid);
  identity.insert("run_id", owner.run_id);
  identity.insert("database", owner.database);
  const std::string path = folder + "/" + kRunIdentityFile;
  std::ofstream out(path);
  out << "# armor: this folder belongs to this run only\n" << identity << "\n";
  if (!out) throw RunError(fmt::format("cannot write {}", path));
}

// Files that hold a run's trained state: a folder without identity that has one cannot be adopted.
bool holds_training_state(const std::string& folder) {
  for (const char* name : {"checkpoint.pt", "checkpoint.pt.tmp", "model.pt", "weights.pt"}) {
    if (fs::exists(fs::path(folder) / name)) return true;
  }
  return false;
}

}  // namespace

std::string describe_owner(const RunFolderOwner& owner) {
  return fmt::format("run {} (uid {}) of {}", owner.run_id, owner.run_uid, owner.database);
}

std::string sweep_run_folder(const std::string& outputs, std::int64_t sweep_id, const std::string& sweep_uid,
                             int index) {
  return fmt::format("{}/{}-{}/{}", outputs, sweep_id, sweep_uid.substr(0, 8), index);
}

RunFolderOwner owner_of(const RunRecord& run, const std::string& database) {
  return {run.uid, run.id, database.empty() || database == ":memory:" ? database : fs::absolute(database).string()};
}

std::optional<RunFolderOwner> read_run_folder_owner(const std::string& folder) {
  const std::string path = folder + "/" + kRunIdentityFile;
  if (!fs::exists(path)) return std::nullopt;
  toml::table identity;
  try {
    identity = toml::parse_file(path);
  } catch (const toml::parse_error& error) {
    throw IdentityError(
        fmt::format("{} is damaged ({}): cannot tell which run owns {}", path, error.description(), folder));
  }
  RunFolderOwner owner;
  owner.run_uid = identity["run_uid"].value_or(std::string());
  owner.run_id = identity["run_id"].value_or(std::int64_t{0});
  owner.database = identity["database"].value_or(std::string());
  if (owner.run_uid.empty())
    throw IdentityError(fmt::format("{} names no run_uid: cannot tell which run owns {}", path, folder));
  return owner;
}

void claim_new_run_folder(const std::string& folder, const RunFolderOwner& owner) {
  if (fs::exists(folder) && !(fs::is_directory(folder) && fs::is_empty(folder))) {
    const std::optional<RunFolderOwner> other = read_run_folder_owner(folder);
    throw IdentityError(fmt::format(
        "output folder {} already exists{}: it is not given to {}; choose another --outputs or move it away", folder,
        other ? " and belongs to " + describe_owner(*other) : " (made by something else)", describe_owner(owner)));
  }
  fs::create_directories(folder);
  write_identity(folder, owner);
}

void check_run_folder(const RunRecord& run, const std::string& database) {
  if (run.output_dir.empty()) return;
  const RunFolderOwner owner = owner_of(run, database);
  if (!fs::exists(run.output_dir)) {
    fs::create_directories(run.output_dir);
    write_identity(run.output_dir, owner);
    return;
  }
  const std::optional<RunFolderOwner> found = read_run_folder_owner(run.output_dir);
  if (!found) {
    if (holds_training_state(run.output_dir)) {
      throw IdentityError(
          fmt::format("output folder {} of run {} has no {} (an armor before identities made it) and holds "
                      "training state that cannot be told apart from another run's; move it away to "
                      "run {} again from the start",
                      run.output_dir, run.id, kRunIdentityFile, run.id));
    }
    write_identity(run.output_dir, owner);
    return;
  }
  if (found->run_uid != run.uid) {
    throw IdentityError(fmt::format("output folder {} belongs to {}, not to {}: refused, nothing in it was touched",
                                    run.output_dir, describe_owner(*found), describe_owner(owner)));
  }
}

std::string recorded_sha256(const ResultsReader& store, const RunRecord& run, const std::string& kind,
                            const std::string& path) {
  for (const ArtifactRecord& artifact : store.artifacts(run.id)) {
    if (artifact.kind == kind && fs::path(artifact.path).lexically_normal() == fs::path(path).lexically_normal()) {
      return artifact.sha256;
    }
  }
  return "";
}

void check_recorded_file(const ResultsReader& store, const RunRecord& run, const std::string& kind,
                         const std::string& path) {
  const std::string recorded = recorded_sha256(store, run, kind, path);
  if (recorded.empty()) {
    throw IdentityError(
        fmt::format("run {} (uid {}) has no {} recorded at {} in {}: refused to use a file runs.db does not vouch for",
                    run.id, run.uid, kind, path, store.path()));
  }
  const std::string actual = sha256_file_hex(path);
  if (actual != recorded) {
    throw IdentityError(
        fmt::format("{} of run {} (uid {}) changed since {} recorded it (sha256 {}, recorded {}): refused", path,
                    run.id, run.uid, store.path(), actual, recorded));
  }
}

}  // namespace armor
