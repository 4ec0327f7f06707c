#include "armor/train/checkpoint_identity.h"

#include <fmt/core.h>
#include <torch/serialize.h>

#include "armor/error.h"

namespace armor {
namespace {
constexpr const char* kRunUidKey = "run_uid";
constexpr const char* kConfigHashKey = "config_hash";
constexpr const char* kOwnerKey = "owner";
}  // namespace

void write_checkpoint_identity(torch::serialize::OutputArchive& archive, const CheckpointIdentity& identity) {
  archive.write(kRunUidKey, c10::IValue(identity.run_uid));
  archive.write(kConfigHashKey, c10::IValue(identity.config_hash));
  archive.write(kOwnerKey, c10::IValue(identity.owner));
}

std::optional<CheckpointIdentity> read_checkpoint_identity(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, torch::kCPU);
  } catch (const c10::Error& error) {
    throw RunError(fmt::format("{} is not a LibTorch checkpoint: {}", path, error.what_without_backtrace()));
  }
  c10::IValue uid;
  c10::IValue hash;
  if (!archive.try_read(kRunUidKey, uid) || !archive.try_read(kConfigHashKey, hash) || !uid.isString() ||
      !hash.isString()) {
    return std::nullopt;
  }
  c10::IValue owner;
  const bool has_owner = archive.try_read(kOwnerKey, owner) && owner.isString();
  return CheckpointIdentity{uid.toStringRef(), hash.toStringRef(), has_owner ? owner.toStringRef() : std::string()};
}

}  // namespace armor
