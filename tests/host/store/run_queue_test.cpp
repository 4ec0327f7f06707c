// RunQueue: runs and sweeps added, claimed (atomically, across processes), started, ended,
// reaped by the liveness check the caller passes in, and requeued.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "armor/store/run_store.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

// ---- adding runs and sweeps -----------------------------------------------------------------------

TEST(RunQueueTest, AddRunStoresEveryFieldAsPending) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.overrides = {"model.k=2", "name=\"quoted\" \\ back", "tab\there\nnewline", "ünï\x01"};
  const std::int64_t run_id = store.queue().add_run(new_run);

  const RunRecord run = store.reader().run(run_id);
  EXPECT_EQ(run.id, run_id);
  EXPECT_FALSE(run.sweep_id.has_value());
  EXPECT_EQ(run.status, RunStatus::pending);
  EXPECT_EQ(run.experiment, new_run.experiment);
  EXPECT_EQ(run.config, new_run.config);
  EXPECT_EQ(run.overrides, new_run.overrides);
  EXPECT_EQ(run.config_hash, "hash2");
  EXPECT_EQ(run.seed, 42);
  EXPECT_EQ(run.revision, "abc123");
  EXPECT_EQ(run.host, "testhost");
  EXPECT_FALSE(run.created_at.empty());
  EXPECT_TRUE(run.started_at.empty());
  EXPECT_TRUE(run.finished_at.empty());
  EXPECT_TRUE(run.error.empty());
}

TEST(RunQueueTest, OverridesAreStoredAsJsonArray) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.overrides = {"a=1", "b=\"x\""};
  const std::int64_t run_id = store.queue().add_run(new_run);
  EXPECT_EQ(scalar(store, "SELECT overrides FROM runs WHERE id = " + std::to_string(run_id)), R"(["a=1","b=\"x\""])");
}

TEST(RunQueueTest, AddSweepWritesSweepRunsAndParamsWithNumericTypes) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});

  ASSERT_EQ(run_ids.size(), 3u);
  const std::vector<RunRecord> runs = store.reader().runs(sweep_id);
  ASSERT_EQ(runs.size(), 3u);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    EXPECT_EQ(runs[i].id, run_ids[i]);
    EXPECT_EQ(runs[i].sweep_id, sweep_id);
    EXPECT_EQ(runs[i].index, static_cast<int>(i));
    EXPECT_EQ(runs[i].status, RunStatus::pending);
  }
  EXPECT_EQ(scalar(store, "SELECT name || ' ' || experiment || ' ' || spec || ' ' || status FROM sweeps"),
            "k-sweep experiments/moe.toml model.k=1,2,3 running");

  // Numeric comparison: as text, '10' < '2'; here 2 and 3 count, 1 does not.
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params WHERE key='model.k' AND value >= 2"), "2");
  EXPECT_EQ(scalar(store, "SELECT typeof(value) FROM params WHERE key='model.k' LIMIT 1"), "integer");
  EXPECT_EQ(scalar(store, "SELECT typeof(value) FROM params WHERE key='train.lr' LIMIT 1"), "real");
  EXPECT_EQ(scalar(store, "SELECT typeof(value) FROM params WHERE key='model.name' LIMIT 1"), "text");
  EXPECT_EQ(scalar(store, "SELECT value FROM params WHERE key='train.augment' LIMIT 1"), "1");
}

TEST(RunQueueTest, AddSweepWritesNothingWhenOneRunFails) {
  RunStore store(":memory:");
  NewRun broken = make_run(1, 2);
  broken.params.push_back({"model.k", ParamValue{std::int64_t{9}}});  // a duplicate primary key
  EXPECT_THROW(store.queue().add_sweep(make_sweep(), {make_run(0, 1), broken}), StoreError);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sweeps"), "0");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM runs"), "0");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "0");
}

TEST(RunQueueTest, StoreErrorCarriesSqliteErrorCode) {
  RunStore store(":memory:");
  NewRun broken = make_run(0, 2);
  broken.params.push_back({"model.k", ParamValue{std::int64_t{9}}});
  try {
    store.queue().add_run(broken);
    FAIL() << "expected a StoreError";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), 19);  // SQLITE_CONSTRAINT
    EXPECT_TRUE(contains(error.what(), "INSERT INTO params"));
    EXPECT_TRUE(contains(error.what(), "sqlite error 19"));
  }
}

TEST(RunQueueTest, FinishSweepIsFinishedWhenEveryRunFinished) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  for (const std::int64_t run_id : run_ids) store.queue().finish_run(run_id, {{"clean_acc", 0.9}});
  store.queue().finish_sweep(sweep_id);
  EXPECT_EQ(scalar(store, "SELECT status FROM sweeps"), "finished");
  EXPECT_EQ(scalar(store, "SELECT finished_at IS NOT NULL FROM sweeps"), "1");
}

TEST(RunQueueTest, FinishSweepIsFailedWhenAnyRunDidNotFinish) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.queue().finish_run(run_ids[0], {{"clean_acc", 0.9}});
  store.queue().fail_run(run_ids[1], "diverged");
  store.queue().finish_sweep(sweep_id);
  EXPECT_EQ(scalar(store, "SELECT status FROM sweeps"), "failed");
}

// ---- the life of a run ----------------------------------------------------------------------------

TEST(RunQueueTest, ClaimRunTakesPendingRunsInIndexOrderOnce) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});
  store.queue().finish_run(run_ids[0], {});
  EXPECT_EQ(store.queue().claim_run(sweep_id, "hostA:10"), run_ids[1]);
  EXPECT_EQ(store.queue().claim_run(sweep_id, "hostA:11"), run_ids[2]);
  EXPECT_EQ(store.queue().claim_run(sweep_id, "hostA:12"), std::nullopt);
  const RunRecord claimed = store.reader().run(run_ids[1]);
  EXPECT_EQ(claimed.status, RunStatus::running);
  EXPECT_EQ(claimed.worker, "hostA:10");
  EXPECT_EQ(claimed.attempt, 1);
  EXPECT_FALSE(claimed.heartbeat_at.empty());
  EXPECT_EQ(store.queue().claim_run(sweep_id + 1, "hostA:10"), std::nullopt);
}

TEST(RunQueueTest, ClaimRunIsAtomicAcrossProcesses) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  std::vector<NewRun> runs;
  for (int i = 0; i < 40; ++i) runs.push_back(make_run(i, i + 1));
  const std::int64_t sweep_id = RunStore(path).queue().add_sweep(make_sweep(), runs).first;
  std::vector<pid_t> children;
  for (int worker = 0; worker < 4; ++worker) {
    const pid_t child = ::fork();
    if (child == 0) {
      int code = 0;
      try {
        RunStore store(path);
        while (store.queue().claim_run(sweep_id, "w:" + std::to_string(worker))) {
        }
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
    children.push_back(child);
  }
  for (const pid_t child : children) {
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  RunStore store(path);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM runs WHERE status = 'running' AND attempt = 1"), "40")
      << "every run claimed exactly once";
}

TEST(RunQueueTest, StartRunMarksRunRunning) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().start_run(run_id);
  const RunRecord run = store.reader().run(run_id);
  EXPECT_EQ(run.status, RunStatus::running);
  EXPECT_FALSE(run.started_at.empty());
}

TEST(RunQueueTest, StartRunRecordsThePidAndHeartbeatMovesOn) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().start_run(run_id, 4242);
  const RunRecord started = store.reader().run(run_id);
  EXPECT_EQ(started.pid, 4242);
  EXPECT_FALSE(started.heartbeat_at.empty());
  store.reader().query("SELECT 1");  // (time passes)
  ::usleep(5000);
  store.queue().heartbeat(run_id);
  EXPECT_GT(store.reader().run(run_id).heartbeat_at, started.heartbeat_at);
  EXPECT_TRUE(contains(store_error_of([&] { store.queue().heartbeat(999); }), "no run 999"));
}

TEST(RunQueueTest, FinishRunWritesMetricsAndStatus) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().start_run(run_id);
  store.queue().finish_run(run_id, {{"clean_acc", 0.91}, {"pgd_acc", 0.45}});

  const RunRecord run = store.reader().run(run_id);
  EXPECT_EQ(run.status, RunStatus::finished);
  EXPECT_FALSE(run.finished_at.empty());
  const std::map<std::string, double> expected{{"clean_acc", 0.91}, {"pgd_acc", 0.45}};
  EXPECT_EQ(store.reader().metrics(run_id), expected);
}

TEST(RunQueueTest, FinishingAgainOverwritesAMetric) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().finish_run(run_id, {{"clean_acc", 0.5}});
  store.queue().finish_run(run_id, {{"clean_acc", 0.75}});
  EXPECT_EQ(store.reader().metrics(run_id).at("clean_acc"), 0.75);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM metrics"), "1");
}

TEST(RunQueueTest, NanMetricReadsBackAsNan) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().finish_run(run_id, {{"loss", std::nan("")}});
  EXPECT_TRUE(std::isnan(store.reader().metrics(run_id).at("loss")));
}

TEST(RunQueueTest, FailRunRecordsTheError) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().start_run(run_id);
  store.queue().fail_run(run_id, "loss became NaN at epoch 3");
  const RunRecord run = store.reader().run(run_id);
  EXPECT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error, "loss became NaN at epoch 3");
  EXPECT_FALSE(run.finished_at.empty());
}

TEST(RunQueueTest, FailRunLeavesAFinishedRunFinished) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  store.queue().finish_run(run_id, {{"clean_acc", 0.9}});
  store.queue().fail_run(run_id, "late failure");
  const RunRecord run = store.reader().run(run_id);
  EXPECT_EQ(run.status, RunStatus::finished);
  EXPECT_TRUE(run.error.empty());
}

TEST(RunQueueTest, FailRunRecordsDivergedAndRefusesANonFailureStatus) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 1));
  store.queue().fail_run(run_id, "loss is nan", RunStatus::diverged);
  EXPECT_EQ(store.reader().run(run_id).status, RunStatus::diverged);
  EXPECT_THROW(store.queue().fail_run(run_id, "x", RunStatus::finished), StoreError);
}

TEST(RunQueueTest, RequeuePutsFailedDivergedAndInterruptedRunsBackPendingKeepingTheirCurves) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3), make_run(3, 4)});
  store.queue().claim_run(sweep_id, "h:1");
  store.records().record_epoch_metrics(run_ids[0], 1, {{"train_loss", 1.0}});
  store.queue().fail_run(run_ids[0], "crash");
  store.queue().fail_run(run_ids[1], "nan", RunStatus::diverged);
  store.queue().fail_run(run_ids[2], "killed", RunStatus::interrupted);
  store.queue().finish_run(run_ids[3], {{"clean_acc", 0.5}});

  EXPECT_EQ(store.queue().requeue(sweep_id), (std::vector<std::int64_t>{run_ids[0], run_ids[1], run_ids[2]}));
  const RunRecord again = store.reader().run(run_ids[0]);
  EXPECT_EQ(again.status, RunStatus::pending);
  EXPECT_TRUE(again.error.empty());
  EXPECT_EQ(again.attempt, 1) << "the attempt count is kept";
  // The curves stay for the new attempt, which continues from the run's checkpoint.
  EXPECT_EQ(store.reader().epoch_metrics(run_ids[0]).size(), 1u);
  EXPECT_EQ(store.reader().run(run_ids[3]).status, RunStatus::finished);
  EXPECT_TRUE(store.queue().requeue(sweep_id).empty());
}

TEST(RunQueueTest, RequeueRunTakesOnlyARunThatDidNotFinish) {
  RunStore store(":memory:");
  const std::int64_t failed = store.queue().add_run(make_run(0, 1));
  const std::int64_t finished = store.queue().add_run(make_run(1, 2));
  store.queue().fail_run(failed, "x", RunStatus::interrupted);
  store.queue().finish_run(finished, {});
  EXPECT_TRUE(store.queue().requeue_run(failed));
  EXPECT_EQ(store.reader().run(failed).status, RunStatus::pending);
  EXPECT_FALSE(store.queue().requeue_run(finished));
  EXPECT_FALSE(store.queue().requeue_run(failed)) << "already pending";
  EXPECT_THROW(store.queue().requeue_run(999), StoreError);
}

// ---- reaping dead runs: the caller's liveness check decides -----------------------------------------

// A liveness check that calls the runs of `dead_pids` gone and records what it was asked.
struct FakeLiveness {
  std::vector<std::int64_t> dead_pids;
  std::vector<RunningProcess> asked;

  ProcessLiveness check() {
    return [this](const RunningProcess& process) -> std::optional<std::string> {
      asked.push_back(process);
      if (std::find(dead_pids.begin(), dead_pids.end(), process.pid) == dead_pids.end()) return std::nullopt;
      return "the fake says pid " + std::to_string(process.pid) + " is dead";
    };
  }
};

TEST(RunQueueTest, ReapDeadRunsMarksInterruptedExactlyTheRunsTheLivenessCheckCallsGone) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3), make_run(3, 4)});
  for (int i = 0; i < 3; ++i) {
    store.queue().claim_run(sweep_id, "somehost:" + std::to_string(100 + i));
    store.queue().start_run(run_ids[static_cast<std::size_t>(i)], 100 + i);
  }
  store.queue().finish_run(run_ids[2], {});  // ended: not asked about
  FakeLiveness liveness{{100, 103}, {}};

  EXPECT_EQ(store.queue().reap_dead_runs(sweep_id, liveness.check()), std::vector<std::int64_t>{run_ids[0]});
  const RunRecord reaped = store.reader().run(run_ids[0]);
  EXPECT_EQ(reaped.status, RunStatus::interrupted);
  EXPECT_EQ(reaped.error, "interrupted: the fake says pid 100 is dead");
  EXPECT_FALSE(reaped.finished_at.empty());
  EXPECT_EQ(store.reader().run(run_ids[1]).status, RunStatus::running) << "alive, says the check";
  EXPECT_EQ(store.reader().run(run_ids[3]).status, RunStatus::pending);

  // It was asked about the running runs only, with what runs.db knows of their processes.
  ASSERT_EQ(liveness.asked.size(), 2u);
  EXPECT_EQ(liveness.asked[0].run_id, run_ids[0]);
  EXPECT_EQ(liveness.asked[0].worker, "somehost:100");
  EXPECT_EQ(liveness.asked[0].host, "testhost");
  EXPECT_EQ(liveness.asked[0].pid, 100);
  EXPECT_GE(liveness.asked[0].silent_seconds, 0.0);
  EXPECT_LT(liveness.asked[0].silent_seconds, 600.0);
  EXPECT_EQ(liveness.asked[1].run_id, run_ids[1]);

  // A run already reaped is not running any more: nothing left to ask about it.
  liveness.asked.clear();
  EXPECT_TRUE(store.queue().reap_dead_runs(sweep_id, liveness.check()).empty());
  ASSERT_EQ(liveness.asked.size(), 1u);
  EXPECT_EQ(liveness.asked[0].run_id, run_ids[1]);
}

TEST(RunQueueTest, ReapDeadRunsLooksAtItsOwnSweepOnly) {
  RunStore store(":memory:");
  const auto [first_sweep, first_runs] = store.queue().add_sweep(make_sweep(), {make_run(0, 1)});
  const auto [second_sweep, second_runs] = store.queue().add_sweep(make_sweep(), {make_run(0, 1)});
  store.queue().claim_run(first_sweep, "h:1");
  store.queue().claim_run(second_sweep, "h:1");
  const ProcessLiveness everything_is_dead = [](const RunningProcess&) { return std::optional<std::string>("dead"); };
  EXPECT_EQ(store.queue().reap_dead_runs(second_sweep, everything_is_dead), second_runs);
  EXPECT_EQ(store.reader().run(first_runs[0]).status, RunStatus::running);
}
}  // namespace
}  // namespace armor
