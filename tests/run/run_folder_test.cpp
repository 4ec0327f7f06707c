// A run's folder and checkpoint are only its own: identity.toml, the checkpoint's identity and the
// sha256 runs.db recorded decide, before anything is written or resumed.

#include "armor/launch/run_folder.h"
#include "armor/run/checkpoint_check.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "armor/error.h"
#include "armor/store/run_store.h"
#include "armor/train/checkpoint_identity.h"
#include "armor/util/sha256.h"

namespace armor {
namespace {
namespace fs = std::filesystem;

class RunFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("armor_run_folder_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "runs.db").string();
    store_ = std::make_unique<RunStore>(db_);
    const auto [sweep, ids] = store_->queue().add_sweep(NewSweep{"s", "e.toml", ""}, {plain_run(), plain_run()});
    for (const std::int64_t id : ids) {
      const std::string folder = sweep_run_folder((dir_ / "outputs").string(), sweep, store_->reader().sweep(sweep).uid,
                                                  static_cast<int>(id - ids.front()));
      claim_new_run_folder(folder, owner_of(store_->reader().run(id), db_));
      store_->records().set_output_dir(id, folder);
    }
    first_ = store_->reader().run(ids[0]);
    second_ = store_->reader().run(ids[1]);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static NewRun plain_run() {
    NewRun run;
    run.experiment = "e.toml";
    run.config = "[model]\n";
    run.config_hash = "hash-a";
    run.revision = "r";
    run.host = "h";
    return run;
  }

  // A checkpoint of `owner` at `path`, recorded in runs.db as its training state when `record`.
  void write_checkpoint(const RunRecord& owner, const std::string& path, const std::string& config_hash, bool record) {
    torch::serialize::OutputArchive archive;
    archive.write("weights", torch::ones({2}));
    write_checkpoint_identity(archive, {owner.uid, config_hash, "run " + std::to_string(owner.id) + " of " + db_});
    archive.save_to(path);
    if (record)
      store_->records().record_artifact(owner.id, "training_state", owner.output_dir + "/checkpoint.pt",
                                        sha256_file_hex(path));
  }

  template <typename Body>
  std::string refusal(Body&& body) {
    try {
      body();
    } catch (const IdentityError& error) {
      return error.what();
    }
    ADD_FAILURE() << "expected an IdentityError";
    return "";
  }

  fs::path dir_;
  std::string db_;
  std::unique_ptr<RunStore> store_;
  RunRecord first_, second_;
};

TEST_F(RunFolderTest, TwoSweepsOfTwoDatabasesNeverShareAFolder) {
  RunStore other((dir_ / "other.db").string());
  const std::int64_t sweep = other.queue().add_sweep(NewSweep{"s", "e.toml", ""}, {plain_run()}).first;
  ASSERT_EQ(sweep, first_.sweep_id.value()) << "ids restart in every database";
  const std::string folder = sweep_run_folder((dir_ / "outputs").string(), sweep, other.reader().sweep(sweep).uid, 0);
  EXPECT_NE(fs::path(folder), fs::path(first_.output_dir));
}

TEST_F(RunFolderTest, ANewRunNeverTakesAFolderThatExists) {
  const std::string message = refusal([&] { claim_new_run_folder(first_.output_dir, owner_of(second_, db_)); });
  EXPECT_NE(message.find("belongs to run " + std::to_string(first_.id) + " (uid " + first_.uid), std::string::npos)
      << message;
  EXPECT_NE(message.find("run " + std::to_string(second_.id) + " (uid " + second_.uid), std::string::npos) << message;
  EXPECT_EQ(read_run_folder_owner(first_.output_dir)->run_uid, first_.uid) << "the folder's identity stays";
}

TEST_F(RunFolderTest, AFolderNamingAnotherRunIsRefused) {
  RunRecord impostor = second_;
  impostor.output_dir = first_.output_dir;
  const std::string message = refusal([&] { check_run_folder(impostor, db_); });
  EXPECT_NE(message.find(first_.uid), std::string::npos) << message;
  EXPECT_NE(message.find(second_.uid), std::string::npos) << message;
  EXPECT_NO_THROW(check_run_folder(first_, db_));
}

TEST_F(RunFolderTest, AFolderWithoutIdentityIsAdoptedOnlyWithoutTrainingState) {
  fs::remove(first_.output_dir + "/" + kRunIdentityFile);
  EXPECT_NO_THROW(check_run_folder(first_, db_));
  EXPECT_EQ(read_run_folder_owner(first_.output_dir)->run_uid, first_.uid);
  fs::remove(second_.output_dir + "/" + kRunIdentityFile);
  std::ofstream(second_.output_dir + "/checkpoint.pt") << "old state";
  EXPECT_NE(refusal([&] { check_run_folder(second_, db_); }).find("has no identity.toml"), std::string::npos);
}

TEST_F(RunFolderTest, ItsOwnRecordedCheckpointResumes) {
  write_checkpoint(first_, first_.output_dir + "/checkpoint.pt", first_.config_hash, true);
  EXPECT_NO_THROW(check_resumable_checkpoint(store_->reader(), first_));
}

TEST_F(RunFolderTest, ACheckpointOfAnotherRunIsRefusedNamingBoth) {
  write_checkpoint(first_, second_.output_dir + "/checkpoint.pt", first_.config_hash, false);
  const std::string message = refusal([&] { check_resumable_checkpoint(store_->reader(), second_); });
  EXPECT_NE(message.find("belongs to run " + std::to_string(first_.id) + " (uid " + first_.uid), std::string::npos)
      << message;
  EXPECT_NE(message.find("not to run " + std::to_string(second_.id) + " (uid " + second_.uid), std::string::npos)
      << message;
  EXPECT_NE(message.find(second_.output_dir + "/checkpoint.pt"), std::string::npos) << message;
}

TEST_F(RunFolderTest, ACheckpointOfAnotherConfigOrChangedSinceRecordedIsRefused) {
  write_checkpoint(first_, first_.output_dir + "/checkpoint.pt", "hash-b", true);
  EXPECT_NE(refusal([&] { check_resumable_checkpoint(store_->reader(), first_); }).find("trained under config hash-b"),
            std::string::npos);
  write_checkpoint(first_, first_.output_dir + "/checkpoint.pt", first_.config_hash, true);
  write_checkpoint(first_, first_.output_dir + "/checkpoint.pt", first_.config_hash,
                   false);  // same identity, not recorded
  { std::ofstream(first_.output_dir + "/checkpoint.pt", std::ios::app) << "tampered"; }
  EXPECT_NE(
      refusal([&] { check_resumable_checkpoint(store_->reader(), first_); }).find("changed since runs.db recorded it"),
      std::string::npos);
}

TEST_F(RunFolderTest, ACheckpointRecordedButNotYetRenamedIsCompleted) {
  const std::string checkpoint = first_.output_dir + "/checkpoint.pt";
  write_checkpoint(first_, checkpoint, first_.config_hash, true);           // epoch 1, renamed
  write_checkpoint(first_, checkpoint + ".tmp", first_.config_hash, true);  // epoch 2: killed before the rename
  const std::string epoch_two = sha256_file_hex(checkpoint + ".tmp");
  EXPECT_NO_THROW(check_resumable_checkpoint(store_->reader(), first_));
  EXPECT_FALSE(fs::exists(checkpoint + ".tmp"));
  EXPECT_EQ(sha256_file_hex(checkpoint), epoch_two);
}

TEST_F(RunFolderTest, ModelFilesAreCheckedAgainstTheRecordedHash) {
  const std::string model = first_.output_dir + "/model.pt";
  std::ofstream(model) << "weights";
  EXPECT_NE(refusal([&] {
              check_recorded_file(store_->reader(), first_, "checkpoint", model);
            }).find("has no checkpoint recorded"),
            std::string::npos);
  store_->records().record_artifact(first_.id, "checkpoint", model, sha256_file_hex(model));
  EXPECT_NO_THROW(check_recorded_file(store_->reader(), first_, "checkpoint", model));
  std::ofstream(model, std::ios::app) << "!";
  EXPECT_NE(refusal([&] { check_recorded_file(store_->reader(), first_, "checkpoint", model); }).find("changed since"),
            std::string::npos);
}

}  // namespace
}  // namespace armor
