// ShardExchange: a run executed elsewhere writes into its shard; merging brings everything back, once.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "armor/store/run_store.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

TEST(ShardExchangeTest, MergeBringsBackWhatTheShardRecordedAndIsIdempotent) {
  const auto folder = std::filesystem::temp_directory_path() / ("armor_shard_" + std::to_string(getpid()));
  std::filesystem::create_directories(folder);
  const std::string shard_path = (folder / "shard.db").string();
  RunStore store((folder / "runs.db").string());
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  const std::int64_t run_id = run_ids[1];
  store.records().record_epoch_metrics(run_id, 0, {{"train_loss", 2.0}});  // an earlier attempt's curve
  ASSERT_EQ(store.queue().claim_run(sweep_id, "submitter", run_id), run_id);
  ASSERT_TRUE(store.queue().assign_worker(run_id, "slurm:7_1"));
  store.shards().export_run_shard(run_id, shard_path);
  {
    RunStore shard(shard_path, RunStore::Mode::shard);
    EXPECT_EQ(shard.reader().run(run_id).status, RunStatus::running);
    EXPECT_EQ(shard.reader().sweep(sweep_id).spec, "model.k=1,2,3");
    EXPECT_EQ(shard.reader().params(run_id).size(), 4u);
    shard.queue().start_run(run_id, 4242);
    shard.records().record_epoch_metrics(run_id, 1, {{"train_loss", 1.5}, {"train_acc", 0.5}});
    shard.records().record_expert_metrics(run_id, "moe", 0, {{"usage", 0.25}});
    shard.records().record_provenance(run_id, {{"host", "node7"}});
    shard.queue().finish_run(run_id, {{"clean_acc", 0.75}});
    shard.records().record_eval_checks(run_id, {{"pgd_acc", "zero_gradients", 1.0, true, "every gradient is 0"}});
  }
  // Twice: the second merge finds the same and changes nothing.
  for (int merge = 0; merge < 2; ++merge) {
    ASSERT_EQ(store.shards().merge_shard(shard_path, run_id), RunStatus::finished);
    const RunRecord run = store.reader().run(run_id);
    EXPECT_EQ(run.status, RunStatus::finished);
    EXPECT_EQ(run.pid, 4242);
    EXPECT_EQ(run.worker, "slurm:7_1");
    EXPECT_EQ(store.reader().metrics(run_id).at("clean_acc"), 0.75);
    EXPECT_EQ(store.reader().epoch_metrics(run_id).size(), 3u);  // epoch 0 from before, epoch 1 from the shard
    EXPECT_EQ(store.reader().expert_metrics(run_id).size(), 1u);
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM provenance WHERE run_id = " + std::to_string(run_id)), "1");
    EXPECT_EQ(scalar(store, "SELECT clean_acc FROM results WHERE run_id = " + std::to_string(run_id)), "0.75");
    EXPECT_EQ(scalar(store, "SELECT train_acc FROM curves WHERE epoch = 1"), "0.5");
    ASSERT_EQ(store.reader().eval_checks(run_id).size(), 1u);
    EXPECT_EQ(store.reader().eval_checks(run_id)[0].detail, "every gradient is 0");
  }
  EXPECT_EQ(store.reader().run(run_ids[0]).status, RunStatus::pending);  // the other run is untouched

  // A shard of an earlier attempt is never merged over a newer one.
  store.shards().export_run_shard(run_ids[0], shard_path);
  ASSERT_EQ(store.queue().claim_run(sweep_id, "submitter", run_ids[0]), run_ids[0]);  // attempt now differs
  EXPECT_EQ(store.shards().merge_shard(shard_path, run_ids[0]), std::nullopt);
  EXPECT_EQ(store.reader().run(run_ids[0]).status, RunStatus::running);
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace armor
