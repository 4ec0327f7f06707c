// End-to-end: the armor program on tiny real data (Fashion-MNIST from Debian's package, the
// first few hundred images), checked through runs.db. Bad inputs have their own catalogue
// (bad_input_test.cpp), faults theirs (fault_test.cpp).

#include <filesystem>
#include <fstream>
#include <string>

#include <SQLiteCpp/SQLiteCpp.h>

#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;

TEST_F(CliTest, MultirunRecordsOneSweepWithAFinishedRunPerPoint) {
  const Result result = run_armor("run " + quickstart() + " --db " + db_ + " --outputs " + outputs() +
                                  " --multirun model.num_experts=2,4 model.k=1,2 " + tiny());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM sweeps"), "1");
  EXPECT_EQ(scalar("SELECT status FROM sweeps"), "finished");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "4");
  EXPECT_EQ(scalar("SELECT count(DISTINCT sweep_id) FROM runs"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM metrics WHERE key = 'clean_acc' AND value BETWEEN 0 AND 1"), "4");
  EXPECT_EQ(scalar("SELECT count(*) FROM metrics WHERE key = 'pgd20_acc' AND value BETWEEN 0 AND 1"), "4");
  // The grid, through typed params: every (num_experts, k) pair once.
  EXPECT_EQ(scalar("SELECT group_concat(e.value || 'x' || k.value, ' ') FROM params e JOIN params k "
                   "ON e.run_id = k.run_id AND e.key = 'model.num_experts' AND k.key = 'model.k' ORDER BY e.run_id"),
            "2x1 2x2 4x1 4x2");
  EXPECT_EQ(scalar("SELECT count(*) FROM params WHERE key = 'model.num_experts' AND value > 3"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM epoch_metrics WHERE key = 'train_loss' AND epoch = 1"), "4");
  EXPECT_EQ(scalar("SELECT count(DISTINCT run_id) FROM expert_metrics WHERE key = 'usage_share'"), "4");
  EXPECT_EQ(scalar("SELECT abs(sum(value) - 1) < 1e-6 FROM expert_metrics WHERE run_id = 1 AND key = 'usage_share'"),
            "1");
  EXPECT_TRUE(contains(result.output, "clean_acc")) << result.output;
  EXPECT_TRUE(contains(result.output, "4 of 4 runs finished")) << result.output;
}

TEST_F(CliTest, SharedOptionsMayComeBeforeTheCommand) {
  const Result run =
      run_armor("--db " + db_ + " --outputs " + outputs() + " run " + quickstart() + " " + tiny() + " --record-only");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE id = 1"), "pending");
  EXPECT_TRUE(contains(scalar("SELECT output_dir FROM runs WHERE id = 1"), outputs())) << "--outputs reached armor run";
  const Result list = run_armor("--db " + db_ + " --format csv db list --columns id,status");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(contains(list.output, "id,status\n1,pending")) << list.output;
  const Result unknown = run_armor("--dbb " + db_ + " db list");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_TRUE(contains(unknown.output, "unknown option '--dbb' before the command")) << unknown.output;
  EXPECT_EQ(run_armor("--db " + db_ + " --help").exit_code, 0);
}

// A run's provenance names the build that ran it (armor --version), even when another build recorded
// it: a sweep resumed after a rebuild ran the new code. The run keeps the revision that recorded it.
TEST_F(CliTest, ARunRecordsTheRevisionOfTheBuildThatRanIt) {
  ASSERT_EQ(run_armor("run " + quickstart() + " " + tiny() + " --record-only --db " + db_ + " --outputs " + outputs())
                .exit_code,
            0);
  SQLite::Database(db_, SQLite::OPEN_READWRITE).exec("UPDATE runs SET revision = 'another-build'");
  const Result work = run_armor("sweep work 1 --db " + db_);
  ASSERT_EQ(work.exit_code, 0) << work.output;
  const std::string version = run_armor("--version").output;  // armor 0.1.0 (REVISION)
  const auto open = version.find(" ("), close = version.find(')');
  ASSERT_TRUE(open != std::string::npos && close > open) << version;
  const std::string revision = version.substr(open + 2, close - open - 2);
  EXPECT_FALSE(revision.empty()) << version;
  EXPECT_EQ(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'revision'"), revision);
  EXPECT_EQ(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'dirty'"),
            revision.size() > 6 && revision.substr(revision.size() - 6) == "-dirty" ? "true" : "false");
  EXPECT_EQ(scalar("SELECT revision FROM runs WHERE id = 1"), "another-build");
}

TEST_F(CliTest, ASingleRunRecordsItsResolvedConfigAndOverrides) {
  const Result result = run_armor("run " + quickstart() + " --db " + db_ + " --outputs " + outputs() + " " + tiny() +
                                  " model.num_experts=2");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE id = 1"), "finished");
  EXPECT_EQ(scalar("SELECT count(*) FROM sweeps"), "1");  // a single run is a sweep of one
  EXPECT_TRUE(contains(scalar("SELECT config FROM runs WHERE id = 1"), "num_experts = 2"));
  EXPECT_TRUE(contains(scalar("SELECT overrides FROM runs WHERE id = 1"), "model.num_experts=2"));
  EXPECT_EQ(scalar("SELECT value FROM params WHERE run_id = 1 AND key = 'trainer.epochs'"), "1");
  EXPECT_EQ(scalar("SELECT value FROM params WHERE run_id = 1 AND key = 'data.name'"), "fashion_mnist");
  const Result list = run_armor("db list --db " + db_);
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_TRUE(contains(list.output, "finished")) << list.output;
}

TEST_F(CliTest, AFailingRunIsRecordedWithItsReasonAndTheSweepGoesOn) {
  const Result result =
      run_armor("run " + quickstart() + " --db " + db_ + " --outputs " + outputs() + " --multirun " + tiny() +
                " data.name=faulty,fashion_mnist --plugin-path " + std::string(ARMOR_TEST_BINARY_DIR) +
                "/test_plugins/faulty_plugin.so");  // a missing data.path is refused before any run
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 0"), "failed");
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 0"), "factory threw on purpose"));
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 1"), "finished");
  EXPECT_EQ(scalar("SELECT status FROM sweeps"), "failed");
}

TEST_F(CliTest, ConfigPrintsTheResolvedConfigAndTheSweepDryRun) {
  const Result config = run_armor("config " + quickstart() + " model.k=2 attack.eps=8/255");
  ASSERT_EQ(config.exit_code, 0) << config.output;
  EXPECT_TRUE(contains(config.output, "k = 2")) << config.output;
  EXPECT_TRUE(contains(config.output, "eps = 0.0313725490196078")) << config.output;
  EXPECT_TRUE(contains(config.output, "noise_std")) << config.output;  // a default filled in
  const Result dry = run_armor("config " + quickstart() + " --multirun model.k=1,2 model.num_experts=2,4");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "4 runs")) << dry.output;
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(CliTest, DbSqlIsReadOnly) {
  ASSERT_EQ(run_armor("run " + quickstart() + " --db " + db_ + " --outputs " + outputs() + " " + tiny()).exit_code, 0);
  const Result select = run_armor("db sql \"SELECT key, value FROM metrics WHERE key = 'clean_acc'\" --db " + db_);
  EXPECT_EQ(select.exit_code, 0) << select.output;
  EXPECT_TRUE(contains(select.output, "clean_acc")) << select.output;
  const Result drop = run_armor("db sql \"DELETE FROM runs\" --db " + db_);
  EXPECT_NE(drop.exit_code, 0) << drop.output;
  EXPECT_EQ(count_runs(), 1);
}

TEST_F(CliTest, PluginsShowDocumentsParametersAndHelpIsTrue) {
  const Result show = run_armor("plugins show attack/pgd");
  ASSERT_EQ(show.exit_code, 0) << show.output;
  for (const char* parameter : {"eps", "step_size", "steps", "random_start"}) {
    EXPECT_TRUE(contains(show.output, parameter)) << show.output;
  }
  const Result list = run_armor("plugins");
  for (const char* name : {"moe_cnn", "topk", "switch", "pgd", "standard", "pgd_at", "fashion_mnist"}) {
    EXPECT_TRUE(contains(list.output, name)) << list.output;
  }
  for (const char* command : {"run", "config", "plugins", "db"}) {
    const Result help = run_armor(std::string(command) + " --help");
    EXPECT_EQ(help.exit_code, 0) << command << ": " << help.output;
    EXPECT_TRUE(contains(help.output, "usage") || contains(help.output, std::string("armor ") + command))
        << help.output;
  }
  EXPECT_EQ(run_armor("rnu").exit_code, 2);
  EXPECT_TRUE(contains(run_armor("rnu").output, "did you mean 'run'")) << run_armor("rnu").output;
}

}  // namespace
