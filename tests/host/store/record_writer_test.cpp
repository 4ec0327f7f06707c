// RecordWriter: what a run records while it executes (curves, expert metrics, output folder,
// artifacts, provenance), each write naming a missing run.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "armor/store/run_store.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

TEST(RecordWriterTest, RecordEpochMetricsKeepsOneValuePerEpochAndKey) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.records().record_epoch_metrics(run_id, 1, {{"loss", 2.5}, {"train_acc", 0.25}});
  store.records().record_epoch_metrics(run_id, 2, {{"loss", 1.5}});
  store.records().record_epoch_metrics(run_id, 2, {{"loss", 1.25}});  // a repeated epoch overwrites

  const QueryResult result = store.reader().query("SELECT epoch, key, value FROM epoch_metrics ORDER BY epoch, key");
  const std::vector<std::vector<std::string>> expected{
      {"1", "loss", "2.5"}, {"1", "train_acc", "0.25"}, {"2", "loss", "1.25"}};
  EXPECT_EQ(result.rows, expected);
}

TEST(RecordWriterTest, RecordExpertMetricsKeysByLayerAndExpert) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.records().record_expert_metrics(run_id, "moe1", 0, {{"load", 0.5}});
  store.records().record_expert_metrics(run_id, "moe1", 1, {{"load", 0.25}});
  store.records().record_expert_metrics(run_id, "moe1", 1, {{"load", 0.125}});
  const QueryResult result =
      store.reader().query("SELECT layer, expert, key, value FROM expert_metrics ORDER BY expert");
  const std::vector<std::vector<std::string>> expected{{"moe1", "0", "load", "0.5"}, {"moe1", "1", "load", "0.125"}};
  EXPECT_EQ(result.rows, expected);
}

TEST(RecordWriterTest, WritesToAnUnknownRunThrowStoreErrorNamingIt) {
  RunStore store(":memory:");
  EXPECT_TRUE(contains(store_error_of([&] { store.queue().start_run(999); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] { store.queue().finish_run(999, {{"a", 1.0}}); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] { store.queue().fail_run(999, "x"); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] {
                         store.records().record_epoch_metrics(999, 1, {{"a", 1.0}});
                       }),
                       "no run 999"));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM metrics"), "0");
}

TEST(RecordWriterTest, OutputDirArtifactsAndProvenanceReadBack) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.output_dir = "/tmp/runs/1";
  const std::int64_t run_id = store.queue().add_run(new_run);
  EXPECT_EQ(store.reader().run(run_id).output_dir, "/tmp/runs/1");
  store.records().set_output_dir(run_id, "/tmp/runs/one");
  EXPECT_EQ(store.reader().run(run_id).output_dir, "/tmp/runs/one");
  store.records().record_artifact(run_id, "checkpoint", "/tmp/runs/one/model.pt", "ab12");
  store.records().record_artifact(run_id, "checkpoint", "/tmp/runs/one/model.pt", "cd34");  // rewritten file
  store.records().record_artifact(run_id, "log", "/tmp/runs/one/log.txt", "ef56");
  const std::vector<ArtifactRecord> artifacts = store.reader().artifacts(run_id);
  ASSERT_EQ(artifacts.size(), 2u);
  EXPECT_EQ(artifacts[0].kind, "checkpoint");
  EXPECT_EQ(artifacts[0].sha256, "cd34");
  EXPECT_EQ(artifacts[1].path, "/tmp/runs/one/log.txt");
  store.records().record_provenance(run_id, {{"revision", "abc"}, {"dirty", "true"}, {"plugin:topk:sha256", "00ff"}});
  const std::vector<std::pair<std::string, std::string>> expected{
      {"dirty", "true"}, {"plugin:topk:sha256", "00ff"}, {"revision", "abc"}};
  EXPECT_EQ(store.reader().provenance(run_id), expected);
  EXPECT_THROW(store.records().record_artifact(999, "log", "x", "y"), StoreError);
  EXPECT_THROW(store.records().set_output_dir(999, "x"), StoreError);
}

TEST(RecordWriterTest, RecordEvalChecksReplacesPerMetricAndCheckAndReadsBackTheFlags) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  const std::int64_t other = store.queue().add_run(make_run(1, 3));
  store.records().record_eval_checks(run_id, {{"", "randomness", 0.0, false, "deterministic"},
                                              {"apgd_acc", "unbounded_attack", 0.9, true, "90% survive eps=1"}});
  store.records().record_eval_checks(run_id, {{"", "randomness", 0.5, true, "logits differ"}});  // replaces
  store.records().record_eval_checks(other, {{"apgd_acc", "zero_gradients", 0.0, false, ""}});
  const std::vector<EvalCheck> checks = store.reader().eval_checks(run_id);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].metric, "");
  EXPECT_EQ(checks[0].check, "randomness");
  EXPECT_TRUE(checks[0].flagged);
  EXPECT_EQ(checks[0].detail, "logits differ");
  EXPECT_EQ(checks[1].value, 0.9);
  const auto flagged = store.reader().flagged_metrics();
  ASSERT_EQ(flagged.size(), 2u);
  EXPECT_EQ(flagged.at({run_id, "apgd_acc"}), "unbounded_attack: 90% survive eps=1");
  EXPECT_EQ(flagged.at({run_id, ""}), "randomness: logits differ");
  EXPECT_TRUE(store.reader().flagged_metrics({other}).empty());
  EXPECT_TRUE(contains(store_error_of([&] { store.records().record_eval_checks(99, {}); }), "99"));
}

}  // namespace
}  // namespace armor
