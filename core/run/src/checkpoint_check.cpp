#include "armor/run/checkpoint_check.h"

#include <filesystem>

#include <fmt/core.h>

#include "armor/error.h"
#include "armor/launch/run_folder.h"
#include "armor/store/results_reader.h"
#include "armor/train/checkpoint_identity.h"
#include "armor/util/sha256.h"

namespace armor {
namespace fs = std::filesystem;
namespace {

// Who a checkpoint's uid is, for messages: the run of this database that has it, else what the
// checkpoint says of itself ("run 1 of /data/a.db").
std::string whose(const ResultsReader& store, const CheckpointIdentity& identity) {
  for (const RunRecord& other : store.runs()) {
    if (other.uid == identity.run_uid)
      return fmt::format("run {} (uid {}) of {}", other.id, identity.run_uid, store.path());
  }
  return fmt::format("{} (uid {})", identity.owner.empty() ? "a run of another database" : identity.owner,
                     identity.run_uid);
}

}  // namespace

void check_resumable_checkpoint(const ResultsReader& store, const RunRecord& run) {
  if (run.output_dir.empty()) return;
  const std::string checkpoint = run.output_dir + "/checkpoint.pt";
  const std::string temporary = checkpoint + ".tmp";
  const std::string recorded = recorded_sha256(store, run, "training_state", checkpoint);
  if (fs::exists(temporary)) {
    // Killed between recording the new checkpoint and renaming it over the old one.
    if (!recorded.empty() && sha256_file_hex(temporary) == recorded) {
      fs::rename(temporary, checkpoint);
    } else {
      fs::remove(temporary);  // a checkpoint cut short while being written, never recorded
    }
  }
  if (!fs::exists(checkpoint)) return;
  const std::optional<CheckpointIdentity> identity = read_checkpoint_identity(checkpoint);
  const std::string this_run = fmt::format("run {} (uid {}) of {}", run.id, run.uid, store.path());
  if (!identity) {
    throw IdentityError(
        fmt::format("checkpoint {} carries no run identity (an armor before identities wrote it): {} does "
                    "not resume from it; move it away to start the run over",
                    checkpoint, this_run));
  }
  if (identity->run_uid != run.uid) {
    throw IdentityError(
        fmt::format("checkpoint {} belongs to {}, not to {}: refused", checkpoint, whose(store, *identity), this_run));
  }
  if (identity->config_hash != run.config_hash) {
    throw IdentityError(
        fmt::format("checkpoint {} of {} was trained under config {}, the run's recorded config is {}: refused",
                    checkpoint, this_run, identity->config_hash, run.config_hash));
  }
  const std::string actual = sha256_file_hex(checkpoint);
  if (actual != recorded) {
    throw IdentityError(
        fmt::format("checkpoint {} of {} changed since runs.db recorded it (sha256 {}, recorded {}): refused",
                    checkpoint, this_run, actual, recorded.empty() ? "none" : recorded));
  }
}

}  // namespace armor
