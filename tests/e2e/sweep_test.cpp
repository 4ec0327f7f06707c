// End-to-end tests of sweeps: the local launcher (--jobs), failure isolation, workers, resume
// after the sweep process is killed, constraints, config groups and run folders.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;

class SweepTest : public CliTest {
 protected:
  std::string run_args() const { return " --db " + db_ + " --outputs " + outputs() + " "; }
  // A dataset whose factory throws: a run that fails once started (a missing data.path is refused
  // while planning, before any run).
  static std::string faulty_data() {
    return "data.name=faulty --plugin-path " + std::string(ARMOR_TEST_BINARY_DIR) + "/test_plugins/faulty_plugin.so";
  }

  // Starts `armor <arguments>` without waiting; its output goes to a file in the test folder.
  pid_t start(const std::string& arguments) const {
    const std::string command =
        "exec " + armor_program() + " " + arguments + " > " + (dir_ / "background.log").string() + " 2>&1";
    const pid_t pid = fork();
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    return pid;
  }

  // Waits (up to `seconds`) until `sql` returns `expected`.
  bool wait_for(const std::string& sql, const std::string& expected, int seconds) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (fs::exists(db_)) {
        try {
          if (scalar(sql) == expected) return true;
        } catch (const std::exception&) {
          // The database is being created.
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
};

TEST_F(SweepTest, JobsRunInParallelAndAResumeOfAFinishedSweepDoesNothing) {
  const Result result =
      run_armor("run " + quickstart() + run_args() + "--multirun model.k=1,2 " + tiny() + " --jobs 2");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "2");
  // Each of the 2 jobs gets half of the cores when run.threads = 0.
  const auto cores = std::max(1u, std::thread::hardware_concurrency());
  EXPECT_EQ(scalar("SELECT min(value) FROM params WHERE key = 'run.threads'"), std::to_string(std::max(1u, cores / 2)));
  EXPECT_TRUE(contains(result.output, "[run 1]")) << result.output;  // the runs' output, prefixed
  const Result resume = run_armor("sweep resume 1 --db " + db_);
  EXPECT_EQ(resume.exit_code, 0) << resume.output;
  EXPECT_TRUE(contains(resume.output, "0 runs to do")) << resume.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM runs"), "2");
  EXPECT_EQ(scalar("SELECT max(attempt) FROM runs"), "1");
}

TEST_F(SweepTest, ADivergingRunIsRecordedAsDivergedAndTheOthersGoOn) {
  // A constant rate: the quickstart's cyclic schedule starts at 0 and would spare the first steps.
  const Result result = run_armor("run " + quickstart() + run_args() +
                                  "--multirun trainer.lr=1e30,0.05 trainer.schedule=constant " + tiny());
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 0"), "diverged");
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 0"), "non-finite training loss"));
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 1"), "finished");
  EXPECT_TRUE(contains(result.output, "1 diverged")) << result.output;
}

TEST_F(SweepTest, FailFastStopsClaimingAndResumeFinishesTheRest) {
  // The first run fails (the faulty plugin's dataset throws); --fail-fast leaves the second one pending.
  const Result result = run_armor("run " + quickstart() + run_args() + "--multirun " + faulty_data() + " " + tiny() +
                                  " model.k=1,2 --fail-fast");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(scalar("SELECT group_concat(status, ',') FROM (SELECT status FROM runs ORDER BY idx)"), "failed,pending");
  EXPECT_TRUE(contains(result.output, "armor sweep resume 1")) << result.output;
}

TEST_F(SweepTest, MaxRetriesRetriesAFailedRun) {
  const Result result =
      run_armor("run " + quickstart() + run_args() + faulty_data() + " " + tiny() + " --max-retries 2");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(scalar("SELECT attempt FROM runs"), "3");
  EXPECT_EQ(scalar("SELECT status FROM runs"), "failed");
}

TEST_F(SweepTest, ResumeAfterTheSweepProcessIsKilledLosesNoRunAndRunsNoneTwice) {
  const pid_t sweep = start("run " + quickstart() + run_args() + "--multirun model.k=1,2,3 " + tiny());
  // Kill the sweep (SIGKILL: no chance to clean up) while its second run is executing.
  ASSERT_TRUE(wait_for("SELECT status FROM runs WHERE idx = 1", "running", 120));
  kill(sweep, SIGKILL);
  waitpid(sweep, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the run process dies with it
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 0"), "finished");
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE idx = 2"), "pending");
  // Its process is gone: no view shows the run as running (runs.db still says so until a resume).
  const Result listed = run_armor("db list --db " + db_ + " --columns id,status --status interrupted");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_TRUE(contains(listed.output, "interrupted")) << listed.output;
  EXPECT_FALSE(contains(run_armor("db list --db " + db_ + " --columns id,status").output, "running"));
  const Result resume = run_armor("sweep resume 1 --db " + db_);
  ASSERT_EQ(resume.exit_code, 0) << resume.output;
  EXPECT_TRUE(contains(resume.output, "marked interrupted")) << resume.output;
  EXPECT_EQ(scalar("SELECT count(*) FROM runs"), "3");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "3");
  EXPECT_EQ(scalar("SELECT attempt FROM runs WHERE idx = 0"), "1");  // the finished run did not run again
  EXPECT_EQ(scalar("SELECT attempt FROM runs WHERE idx = 1"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM metrics WHERE key = 'clean_acc'"), "3");
  EXPECT_EQ(scalar("SELECT status FROM sweeps"), "finished");
}

TEST_F(SweepTest, ARunKilledAfterEpochOneAndResumedEndsWithTheWeightsOfAStraightRun) {
  const std::string settings =
      quickstart() +
      " trainer=pgd_at trainer.epochs=3 data.train_limit=384 data.test_limit=64 eval.attacks.pgd20.steps=2 "
      "run.threads=1";  // the quickstart's balancing weight: its four experts share the images
  const std::string straight_db = (dir_ / "straight.db").string();
  const Result straight =
      run_armor("run " + settings + " --db " + straight_db + " --outputs " + (dir_ / "straight").string());
  ASSERT_EQ(straight.exit_code, 0) << straight.output;

  const pid_t run = start("run " + settings + run_args());
  ASSERT_TRUE(wait_for("SELECT count(*) FROM epoch_metrics WHERE epoch = 1 AND key = 'train_loss'", "1", 120));
  kill(run, SIGKILL);
  waitpid(run, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the run process dies with it
  ASSERT_EQ(scalar("SELECT max(epoch) FROM epoch_metrics"), "1") << "killed too late to test a resume";
  ASSERT_EQ(scalar("SELECT status FROM runs WHERE id = 1"), "running");
  // As if the kill had come between epoch 1's checkpoint and its record: the resume must record
  // epoch 1 from the checkpoint, with the values the killed attempt had.
  const std::string epoch_one_loss = scalar("SELECT value FROM epoch_metrics WHERE epoch = 1 AND key = 'train_loss'");
  SQLite::Database(db_, SQLite::OPEN_READWRITE).exec("DELETE FROM epoch_metrics WHERE epoch = 1");

  const Result resumed = run_armor("run --resume 1" + run_args());
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "continues from its checkpoint")) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "resumed from")) << resumed.output;
  EXPECT_EQ(scalar("SELECT status FROM runs WHERE id = 1"), "finished");
  EXPECT_EQ(scalar("SELECT attempt FROM runs WHERE id = 1"), "2");
  // Each attempt keeps who ran it; the unprefixed keys are the last attempt's.
  EXPECT_EQ(scalar("SELECT group_concat(key, ',') FROM (SELECT key FROM provenance WHERE run_id = 1 AND key LIKE "
                   "'attempt:%:revision' ORDER BY key)"),
            "attempt:1:revision,attempt:2:revision");
  EXPECT_EQ(scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'attempt:2:revision'"),
            scalar("SELECT value FROM provenance WHERE run_id = 1 AND key = 'revision'"));
  EXPECT_EQ(scalar("SELECT count(DISTINCT epoch) FROM epoch_metrics"), "3");
  EXPECT_EQ(scalar("SELECT value FROM epoch_metrics WHERE epoch = 1 AND key = 'train_loss'"), epoch_one_loss);
  // The same weights, byte for byte, as the run that was never interrupted.
  const std::string weights = "SELECT sha256 FROM artifacts WHERE run_id = 1 AND kind = 'weights'";
  const std::string expected =
      armor::ResultsReader(straight_db, armor::ResultsReader::Mode::read_only).query(weights).rows.at(0).at(0);
  EXPECT_EQ(scalar(weights), expected);

  const Result again = run_armor("run --resume 1" + run_args());
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_TRUE(contains(again.output, "has finished")) << again.output;
}

// Ids restart at 1 in every database; folders and checkpoints belong to one run only.
TEST_F(SweepTest, ARunInASecondDatabaseTrainsFromScratchAndLeavesTheFirstRunsFolderAlone) {
  const std::string other_db = (dir_ / "other.db").string();
  const Result first = run_armor("run " + quickstart() + run_args() + tiny() + " run.seed=1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const fs::path first_folder = scalar("SELECT output_dir FROM runs WHERE id = 1");
  const auto snapshot = [](const fs::path& folder) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
      std::ifstream in(entry.path(), std::ios::binary);
      files[entry.path().string()] =
          std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    return files;
  };
  const auto before = snapshot(first_folder);

  const Result second =
      run_armor("run " + quickstart() + " --db " + other_db + " --outputs " + outputs() + " " + tiny() + " run.seed=2");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_FALSE(contains(second.output, "resumed from")) << second.output;
  const armor::ResultsReader other(other_db, armor::ResultsReader::Mode::read_only);
  const armor::RunRecord second_run = other.run(1);
  EXPECT_NE(fs::path(second_run.output_dir), first_folder);
  EXPECT_EQ(snapshot(first_folder), before) << "the first run's folder must stay byte for byte the same";
  const std::string weights = "SELECT sha256 FROM artifacts WHERE run_id = 1 AND kind = 'weights'";
  EXPECT_NE(other.query(weights).rows.at(0).at(0), scalar(weights)) << "the second run has weights of its own";

  // A checkpoint copied into another run's folder is refused, naming both runs and the file.
  ASSERT_EQ(run_armor("run " + quickstart() + " --db " + other_db + " --outputs " + outputs() + " " + tiny() +
                      " run.seed=3 --record-only")
                .exit_code,
            0);
  const armor::RunRecord pending = armor::ResultsReader(other_db, armor::ResultsReader::Mode::read_only).run(2);
  fs::copy_file(first_folder / "checkpoint.pt", fs::path(pending.output_dir) / "checkpoint.pt");
  const Result refused = run_armor("run --resume 2 --db " + other_db + " --outputs " + outputs());
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_TRUE(contains(refused.output, "run 2 (uid " + pending.uid + ")")) << refused.output;
  EXPECT_TRUE(contains(refused.output, "run 1 of " + fs::absolute(db_).string())) << refused.output;
  EXPECT_TRUE(contains(refused.output, (fs::path(pending.output_dir) / "checkpoint.pt").string())) << refused.output;
  EXPECT_EQ(armor::ResultsReader(other_db, armor::ResultsReader::Mode::read_only).run(2).status,
            armor::RunStatus::pending);

  // A checkpoint changed since runs.db recorded it is refused too, and so is a changed model.pt.
  { std::ofstream(first_folder / "model.pt", std::ios::app) << "x"; }
  const Result changed = run_armor("eval 1 --db " + db_);
  EXPECT_EQ(changed.exit_code, 2) << changed.output;
  EXPECT_TRUE(contains(changed.output, "changed since")) << changed.output;
}

TEST_F(SweepTest, TwoWorkersShareASweepWithoutRunningARunTwice) {
  const Result recorded = run_armor("run " + quickstart() + run_args() + "--multirun model.k=1,2 trainer.lr=0.05,0.1 " +
                                    tiny() + " --record-only");
  ASSERT_EQ(recorded.exit_code, 0) << recorded.output;
  ASSERT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'pending'"), "4");
  EXPECT_TRUE(contains(recorded.output, "armor sweep work 1")) << recorded.output;
  const pid_t first = start("sweep work 1 --db " + db_);
  const Result second = run_armor("sweep work 1 --db " + db_);
  int status = 0;
  waitpid(first, &status, 0);
  EXPECT_EQ(second.exit_code, 0) << second.output;
  // Every run was claimed exactly once across the two workers, and both did some.
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "4");
  EXPECT_EQ(scalar("SELECT max(attempt) FROM runs"), "1");
  EXPECT_EQ(scalar("SELECT count(DISTINCT worker) FROM runs"), "2");
}

TEST_F(SweepTest, ConstraintsDropPointsAndTheDryRunListsThem) {
  const Result dry = run_armor("config " + quickstart() +
                               " --multirun model.num_experts=1,2 model.k=1,2 --constraint 'trainer.lr < 1'");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "dropped: model.num_experts=1 model.k=2  (breaks model.k <= model.num_experts)"))
      << dry.output;
  EXPECT_TRUE(contains(dry.output, "3 runs, 1 dropped")) << dry.output;
  const Result user = run_armor("config " + quickstart() +
                                " --multirun trainer.lr=0.01,0.1,1 --constraint 'trainer.lr between 0.05 and 0.5'");
  ASSERT_EQ(user.exit_code, 0) << user.output;
  EXPECT_TRUE(contains(user.output, "1 runs, 2 dropped")) << user.output;
  const Result bad = run_armor("config " + quickstart() + " --multirun model.k=1,2 --constraint 'model.k <<= 2'");
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  EXPECT_TRUE(contains(bad.output, "sweep constraint 'model.k <<= 2'")) << bad.output;
}

TEST_F(SweepTest, APointBreakingTheModelsDeclaredConstraintIsDroppedWithItAsTheReason) {
  const Result dry = run_armor("config " + quickstart() + " --multirun model.k=1,2,3 model.num_experts=2");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "dropped: model.k=3 model.num_experts=2  (breaks model.k <= model.num_experts)"))
      << dry.output;
  EXPECT_TRUE(contains(dry.output, "2 runs, 1 dropped")) << dry.output;
}

TEST_F(SweepTest, SweepTableInTheExperimentMakesASweepWithPairedValues) {
  const fs::path experiment = dir_ / "paired.toml";
  std::ofstream(experiment)
      << "defaults = [\"" << quickstart() << "\"]\n\n[sweep]\n"
      << "overrides = [\"trainer.lr=zip(0.05,0.1)\", \"attack.eps=zip(0.05,0.1)\", \"run.seed=range(0,2)\"]\n";
  const Result dry = run_armor("config " + experiment.string());
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "trainer.lr=0.05 attack.eps=0.05 run.seed=1")) << dry.output;
  EXPECT_TRUE(contains(dry.output, "trainer.lr=0.1 attack.eps=0.1 run.seed=0")) << dry.output;
  EXPECT_TRUE(contains(dry.output, "4 runs, 0 dropped")) << dry.output;
  // A plain override (no --multirun) replaces the file's dimension and is never split.
  const Result fixed = run_armor("config " + experiment.string() + " run.seed=5");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.output;
  EXPECT_TRUE(contains(fixed.output, "trainer.lr=0.1 attack.eps=0.1 run.seed=5")) << fixed.output;
  EXPECT_TRUE(contains(fixed.output, "2 runs, 0 dropped")) << fixed.output;
}

TEST_F(SweepTest, GroupsOverridesAndInterpolationComposeOnTheCommandLine) {
  const Result config =
      run_armor("config " + quickstart() + " model=moe_cnn_wide 'eval.batch_size=${trainer.batch_size}'");
  ASSERT_EQ(config.exit_code, 0) << config.output;
  EXPECT_TRUE(contains(config.output, "width = 32")) << config.output;
  EXPECT_TRUE(contains(config.output, "num_experts = 8")) << config.output;
  EXPECT_TRUE(contains(config.output, "[eval]\nbatch_size = 128")) << config.output;
  const Result typo = run_armor("config " + quickstart() + " model.num_expert=2");
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_TRUE(contains(typo.output, "use +model.num_expert=2 to add it")) << typo.output;
  EXPECT_TRUE(contains(typo.output, "did you mean 'model.num_experts'?")) << typo.output;
}

TEST_F(SweepTest, EachRunHasAFolderWithItsConfigLogAndCheckpoint) {
  const Result result = run_armor("run " + quickstart() + run_args() + tiny());
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const fs::path folder = scalar("SELECT output_dir FROM runs WHERE id = 1");
  const std::string sweep_uid = scalar("SELECT uid FROM sweeps WHERE id = 1");
  EXPECT_EQ(folder, fs::absolute(fs::path(outputs()) / ("1-" + sweep_uid.substr(0, 8)) / "0"));
  for (const char* file :
       {"identity.toml", "config.toml", "overrides.txt", "run.log", "model.pt", "weights.pt", "checkpoint.pt"}) {
    EXPECT_TRUE(fs::exists(folder / file)) << file;
  }
  std::ifstream log(folder / "run.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(contains(text, "eval clean")) << text;
  EXPECT_EQ(scalar("SELECT count(*) FROM artifacts WHERE run_id = 1 AND kind = 'checkpoint'"), "1");
}

TEST_F(SweepTest, AshaStopsRunsThatTrailAtARung) {
  // Runs go one after another: the first learns (lr 0.05, on synthetic data it learns at once) and
  // is alone at each rung; the two with lr 0 and 1e-9 stay at chance and are stopped at the first
  // rung (two runs of lr 0 would be one config twice, which a sweep refuses).
  const Result result = run_armor("run " + quickstart() + run_args() + "--multirun trainer.lr=0.05,0,1e-9 " + tiny() +
                                  " data.name=synthetic trainer.batch_size=32 trainer.epochs=3 trainer=standard"
                                  " --early-stop asha");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_EQ(scalar("SELECT max(epoch) FROM epoch_metrics WHERE run_id = 1"), "3");
  EXPECT_EQ(scalar("SELECT max(epoch) FROM epoch_metrics WHERE run_id = 2"), "1");
  EXPECT_EQ(scalar("SELECT max(epoch) FROM epoch_metrics WHERE run_id = 3"), "1");
  EXPECT_EQ(scalar("SELECT count(*) FROM epoch_metrics WHERE key = 'stopped_early'"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "3");  // evaluated as they were
  EXPECT_TRUE(contains(scalar("SELECT spec FROM sweeps"), "[early_stop]")) << scalar("SELECT spec FROM sweeps");
}

TEST_F(SweepTest, RandomSearchRunsTheDrawnTrials) {
  const Result dry = run_armor("config " + quickstart() +
                               " --multirun 'trainer.lr=loguniform(0.01,0.1)' model.k=1,2 "
                               "--sweeper random --trials 5");
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  EXPECT_TRUE(contains(dry.output, "5 runs, 0 dropped")) << dry.output;
  const Result grid = run_armor("config " + quickstart() + " --multirun 'trainer.lr=loguniform(0.01,0.1)'");
  EXPECT_EQ(grid.exit_code, 2) << grid.output;
}

}  // namespace
