// The launchers' plain parts, without starting a process: what a run process is given, the Slurm
// task script and sbatch arguments, the [slurm] table, a sweep's end and what a resume requeues.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../host_test_support.h"
#include "armor/error.h"
#include "armor/launch/local_launcher.h"
#include "armor/launch/run_folder.h"
#include "armor/launch/slurm_launcher.h"
#include "armor/launch/sweep_outcome.h"
#include "armor/store/run_store.h"

namespace armor {
namespace {

using armor::testing::contains;

// A fresh folder, removed with everything in it.
class TempFolder {
 public:
  TempFolder() : path_(std::filesystem::temp_directory_path() / ("armor_launch_test_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

TEST(LocalLauncherTest, ARunProcessGetsTheDatabaseTheRunAndEveryPluginPath) {
  LaunchOptions options;
  options.db = "/data/runs.db";
  options.executable = "/opt/armor/bin/armor";
  options.plugin_paths = {"/a", "/b c"};
  EXPECT_EQ(run_process_arguments(options, 7),
            (std::vector<std::string>{"/opt/armor/bin/armor", "_exec-run", "--db", "/data/runs.db", "--run", "7",
                                      "--plugin-path", "/a", "--plugin-path", "/b c"}));
}

TEST(LocalLauncherTest, RefusesToLaunchWithoutAnExecutable) {
  RunStore store(":memory:");
  EXPECT_THROW(work_on_sweep(store, 1, LaunchOptions{}), RunError);
}

TEST(LocalLauncherTest, EachJobGetsItsShareOfTheCores) {
  EXPECT_GE(threads_per_job(1), threads_per_job(2));
  EXPECT_EQ(threads_per_job(100000), 1);
}

TEST(SlurmLauncherTest, TheTaskScriptQuotesTheExecutableAndPluginPaths) {
  const std::string script = slurm_task_script("/w/submit-0.tasks", 3, "/opt/it's/armor", {"/p 1"});
  EXPECT_TRUE(contains(script, "#!/bin/bash\n"));
  EXPECT_TRUE(contains(script, "first=$(( SLURM_ARRAY_TASK_ID * 3 + 1 ))"));
  EXPECT_TRUE(
      contains(script, "'/opt/it'\\''s/armor' _exec-run --shard \"$shard\" --run \"$run\" --plugin-path '/p 1'"));
  EXPECT_TRUE(contains(script, "$(( first + 3 - 1 ))p\" '/w/submit-0.tasks')"));
}

TEST(SlurmLauncherTest, SbatchGetsTheArrayAndOnlyTheSettingsGiven) {
  SlurmOptions slurm;
  slurm.max_parallel = 2;
  slurm.partition = "gpu";
  slurm.sbatch_options = {"--account=abc"};
  EXPECT_EQ(sbatch_arguments(slurm, 5, 4, "/w/slurm", "/w/slurm/submit-0.sh"),
            (std::vector<std::string>{"sbatch", "--parsable", "--job-name=armor-sweep-5", "--output=/w/slurm/%A_%a.out",
                                      "--array=0-3%2", "--partition=gpu", "--account=abc", "/w/slurm/submit-0.sh"}));
}

TEST(SlurmOptionsTest, TheFileFillsWhatTheCommandLineLeftUnset) {
  TempFolder folder;
  const std::string file = folder.file("slurm.toml");
  std::ofstream(file) << "[slurm]\npartition = \"cpu\"\ntime = \"01:00:00\"\ncpus_per_task = 8\n"
                         "sbatch_options = [\"--qos=low\"]\n";
  SlurmOptions slurm;
  slurm.config_file = file;
  slurm.partition = "gpu";  // from the command line
  slurm.sbatch_options = {"--qos=high"};
  apply_slurm_config_file(slurm, {"slurm-partition", "sbatch-option"});
  EXPECT_EQ(slurm.partition, "gpu");
  EXPECT_EQ(slurm.time, "01:00:00");
  EXPECT_EQ(slurm.cpus_per_task, 8);
  EXPECT_EQ(slurm.sbatch_options, (std::vector<std::string>{"--qos=low", "--qos=high"})) << "the command line's last";
  EXPECT_EQ(slurm_threads_per_run(slurm), 8);
}

TEST(SlurmOptionsTest, AnUnknownKeyIsAConfigErrorNamingTheFile) {
  TempFolder folder;
  const std::string file = folder.file("slurm.toml");
  std::ofstream(file) << "[slurm]\npartiton = \"cpu\"\n";
  SlurmOptions slurm;
  slurm.config_file = file;
  try {
    apply_slurm_config_file(slurm, {});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& error) {
    EXPECT_TRUE(contains(error.what(), file + ": unknown key slurm.partiton"));
  }
}

TEST(SlurmOptionsTest, BadValuesAreUsageErrorsThatRepeatThem) {
  SlurmOptions slurm;
  slurm.launcher = "pbs";
  EXPECT_THROW(check_slurm_options(slurm), UsageError);
  slurm.launcher = "slurm";
  slurm.sbatch_options = {"account=abc"};
  try {
    check_slurm_options(slurm);
    FAIL() << "expected a UsageError";
  } catch (const UsageError& error) {
    EXPECT_TRUE(contains(error.what(), "(got 'account=abc')"));
  }
}

class SweepOutcomeTest : public armor::testing::SweepStoreTest {};

TEST_F(SweepOutcomeTest, AFinishedSweepIsClosedAndSaysSo) {
  const SweepOutcome outcome = finish_sweep(*store_, sweep_);
  EXPECT_EQ(outcome.runs, 8u);
  EXPECT_EQ(outcome.finished, 8u);
  EXPECT_EQ(store_->reader().sweep(sweep_).status, "finished");
  const std::string text = describe_sweep_end(sweep_, outcome, LaunchSummary{}, "runs.db");
  EXPECT_EQ(text, "sweep " + std::to_string(sweep_) + ": 8 of 8 runs finished; results in runs.db\n");
}

TEST_F(SweepOutcomeTest, TheResultsTablePutsCleanAccuracyFirst) {
  const app::ResultTable table = sweep_results_table(*store_, sweep_);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"run", "status", "overrides", "clean_acc", "pgd_acc"}));
  ASSERT_EQ(table.rows.size(), 8u);
  EXPECT_EQ(std::get<std::string>(table.rows[0][2]), "model.num_experts=2 model.k=1 seed=0");
}

TEST_F(SweepOutcomeTest, AnUnfinishedSweepNamesItsFailuresAndHowToResume) {
  NewRun again;
  again.experiment = "experiments/moe.toml";
  again.config_hash = "hash-0";  // finished already, as run ids_[0]
  NewRun fresh = again;
  fresh.index = 1;
  fresh.config_hash = "hash-new";
  const auto [sweep, ids] = store_->queue().add_sweep(NewSweep{"retry", "experiments/moe.toml", ""}, {again, fresh});
  for (const std::int64_t id : ids) {
    store_->queue().claim_run(sweep, "test:1", id);
    store_->queue().fail_run(id, "boom");
  }
  LaunchSummary summary;
  summary.failed = 2;
  const SweepOutcome outcome = finish_sweep(*store_, sweep);
  EXPECT_EQ(outcome.unfinished(), 2u);
  const std::string text = describe_sweep_end(sweep, outcome, summary, "x.db");
  EXPECT_TRUE(contains(text, "0 of 2 runs finished (2 failed, 0 diverged, 0 interrupted here)"));
  EXPECT_TRUE(contains(text, "resume with: armor sweep resume " + std::to_string(sweep) + " --db x.db"));
  EXPECT_EQ(summary_of_sweep(*store_, sweep).failed, 2);
  // The run whose config finished elsewhere is skipped, unless forced.
  EXPECT_EQ(requeue_unfinished_runs(*store_, sweep, false), 1);
  EXPECT_EQ(store_->reader().run(ids[0]).status, RunStatus::failed);
  EXPECT_EQ(store_->reader().run(ids[1]).status, RunStatus::pending);
  EXPECT_EQ(requeue_unfinished_runs(*store_, sweep, true), 2);
}

// The study's claim 5: `armor eval 2 --new-run model.alpha=0.5` finished with the config hash of the
// sweep's interrupted alpha = 0.5 run, whose weights it does not have. Resuming trains that run.
TEST_F(SweepOutcomeTest, AnEvaluationWithTheSameConfigDoesNotStandInForAnInterruptedRun) {
  NewRun run;
  run.experiment = "experiments/dual.toml";
  run.config_hash = "alpha-0.5";
  const auto [sweep, ids] = store_->queue().add_sweep(NewSweep{"alpha", "experiments/dual.toml", ""}, {run});
  store_->queue().claim_run(sweep, "test:1", ids[0]);
  store_->queue().fail_run(ids[0], "killed by signal 15", RunStatus::interrupted);
  const std::int64_t evaluation = store_->queue().add_run(run);
  store_->records().record_artifact(evaluation, kEvaluatedCheckpointArtifact, "/runs/2/model.pt", "ab12");
  store_->queue().finish_run(evaluation, {});
  EXPECT_EQ(requeue_unfinished_runs(*store_, sweep, false), 1);
  EXPECT_EQ(store_->reader().run(ids[0]).status, RunStatus::pending);
}

TEST(RunFolderTest, ANewFolderIsClaimedOnceAndNamesItsRun) {
  TempFolder folder;
  RunStore store(":memory:");
  NewRun run;
  run.experiment = "e.toml";
  const auto [sweep, ids] = store.queue().add_sweep(NewSweep{"s", "e.toml", ""}, {run});
  const RunRecord record = store.reader().run(ids[0]);
  const std::string path = sweep_run_folder(folder.file("outputs"), sweep, store.reader().sweep(sweep).uid, 0);
  EXPECT_TRUE(
      contains(path, "/outputs/" + std::to_string(sweep) + "-" + store.reader().sweep(sweep).uid.substr(0, 8) + "/0"));
  claim_new_run_folder(path, owner_of(record, folder.file("runs.db")));
  ASSERT_TRUE(read_run_folder_owner(path).has_value());
  EXPECT_EQ(read_run_folder_owner(path)->run_uid, record.uid);
  EXPECT_THROW(claim_new_run_folder(path, owner_of(record, folder.file("runs.db"))), IdentityError);
}

}  // namespace
}  // namespace armor
