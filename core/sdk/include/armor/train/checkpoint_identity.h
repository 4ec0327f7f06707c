#pragma once
// CheckpointIdentity: whose training state a checkpoint holds. Every checkpoint a trainer writes
// carries the run's uid (unique across databases) and the hash of its resolved config, so that a run
// never resumes from another run's state, nor from state trained under another config.

#include <optional>
#include <string>

namespace torch::serialize {
class OutputArchive;
}

namespace armor {

struct CheckpointIdentity {
  std::string run_uid;
  std::string config_hash;
  std::string owner;  // for messages: "run 3 of /data/runs.db"
};

// Adds the identity to a checkpoint being written.
void write_checkpoint_identity(torch::serialize::OutputArchive& archive, const CheckpointIdentity& identity);
// The identity of the checkpoint at `path`; nullopt when it carries none (written by an armor before
// identities). Throws RunError when the file is no LibTorch archive.
std::optional<CheckpointIdentity> read_checkpoint_identity(const std::string& path);

}  // namespace armor
