// The launcher's liveness check (local_process_liveness), through the store that asks it and alone.

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "../store/store_test_support.h"
#include "armor/launch/process_liveness.h"
#include "armor/store/run_store.h"

namespace armor {
namespace {

using namespace store_test;

TEST(ProcessLivenessTest, ReapDeadRunsFindsAVanishedProcessOnThisHost) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  store.queue().claim_run(sweep_id, "thishost:1");
  store.queue().start_run(run_ids[0], gone);
  store.queue().claim_run(sweep_id, "thishost:1");
  store.queue().start_run(run_ids[1], ::getpid());  // alive
  store.queue().claim_run(sweep_id, "otherhost:1");
  store.queue().start_run(run_ids[2], gone);  // another host: its pids mean nothing here

  EXPECT_EQ(store.queue().reap_dead_runs(sweep_id, local_process_liveness("thishost", 3600)),
            std::vector<std::int64_t>{run_ids[0]});
  const RunRecord reaped = store.reader().run(run_ids[0]);
  EXPECT_EQ(reaped.status, RunStatus::interrupted);
  EXPECT_TRUE(contains(reaped.error, std::to_string(gone)));
  EXPECT_EQ(store.reader().run(run_ids[1]).status, RunStatus::running);
  EXPECT_EQ(store.reader().run(run_ids[2]).status, RunStatus::running);
}

TEST(ProcessLivenessTest, ReapDeadRunsFindsAStaleHeartbeat) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1)});
  store.queue().claim_run(sweep_id, "otherhost:1");
  store.queue().start_run(run_ids[0], 1);
  EXPECT_TRUE(store.queue().reap_dead_runs(sweep_id, local_process_liveness("thishost", 3600)).empty());
  EXPECT_EQ(store.queue().reap_dead_runs(sweep_id, local_process_liveness("thishost", -1)), run_ids);
  EXPECT_TRUE(contains(store.reader().run(run_ids[0]).error, "no heartbeat"));
}

TEST(ProcessLivenessTest, ReapDeadRunsSparesALiveProcessOnThisHostWhateverItsHeartbeat) {
  // A stopped (Ctrl-Z) run misses heartbeats but is alive: reaping it would run it twice.
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1)});
  store.queue().claim_run(sweep_id, "thishost:1");
  store.queue().start_run(run_ids[0], ::getpid());
  EXPECT_TRUE(store.queue().reap_dead_runs(sweep_id, local_process_liveness("thishost", -1)).empty());
  EXPECT_EQ(store.reader().run(run_ids[0]).status, RunStatus::running);
}

TEST(ProcessLivenessTest, ReapDeadRunsFindsARunWhosePidNowBelongsToALaterProcess) {
  const std::string db = ::testing::TempDir() + "/liveness-" + std::to_string(::getpid()) + ".db";
  std::remove(db.c_str());
  {
    RunStore store(db);
    const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
    store.queue().claim_run(sweep_id, "thishost:1");
    store.queue().start_run(run_ids[0], ::getpid());
    store.queue().claim_run(sweep_id, "thishost:1");
    store.queue().start_run(run_ids[1], ::getpid());
    // Run 1 started on an earlier boot (or another machine named thishost); run 2 just now.
    SQLite::Database(db, SQLite::OPEN_READWRITE)
        .exec("UPDATE runs SET started_at = '2026-01-01T00:00:00.000Z' WHERE id = " + std::to_string(run_ids[0]));
    EXPECT_EQ(store.queue().reap_dead_runs(sweep_id, local_process_liveness("thishost", 60)),
              std::vector<std::int64_t>{run_ids[0]});
    EXPECT_TRUE(contains(store.reader().run(run_ids[0]).error, "started after the run did"));
    EXPECT_EQ(store.reader().run(run_ids[1]).status, RunStatus::running);
  }
  std::remove(db.c_str());
}

// The check alone, on what the store would tell it.
RunningProcess process_of(const std::string& worker, std::int64_t pid, double silent_seconds) {
  RunningProcess process;
  process.run_id = 1;
  process.worker = worker;
  process.host = "recordinghost";
  process.pid = pid;
  process.silent_seconds = silent_seconds;
  return process;
}

TEST(ProcessLivenessTest, ASlurmTaskIsLeftToSlurmWhateverItsHeartbeat) {
  const ProcessLiveness liveness = local_process_liveness("thishost", 60);
  EXPECT_EQ(liveness(process_of("slurm:7_1", 0, 1e6)), std::nullopt);
}

TEST(ProcessLivenessTest, BeforeTheRunStartedTheWorkersPidIsLookedFor) {
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  const ProcessLiveness liveness = local_process_liveness("thishost", 3600);
  const std::optional<std::string> why = liveness(process_of("thishost:" + std::to_string(gone), 0, 0));
  ASSERT_TRUE(why.has_value());
  EXPECT_TRUE(contains(*why, "its process " + std::to_string(gone) + " on thishost is gone")) << *why;
  EXPECT_EQ(liveness(process_of("thishost:" + std::to_string(::getpid()), 0, 1e6)), std::nullopt);
}

// runs.db from before a restart, or from another machine of the same host name: the recorded pid
// belongs to a live process again (here this test's), one that started long after the run did.
TEST(ProcessLivenessTest, APidGivenOutAgainToALaterProcessIsGone) {
  const ProcessLiveness liveness = local_process_liveness("thishost", 60);
  RunningProcess reused = process_of("thishost:1", ::getpid(), 0);
  reused.running_seconds = 1e6;  // the run started 11 days ago
  const std::optional<std::string> why = liveness(reused);
  ASSERT_TRUE(why.has_value());
  EXPECT_TRUE(contains(*why, "pid " + std::to_string(::getpid()) + " is now a process that started after the run did"))
      << *why;
  reused.running_seconds = 1;  // this process has run at least as long as the run
  EXPECT_EQ(liveness(reused), std::nullopt);
  reused.pid = 0;  // before the run started: the worker's pid, judged the same way
  reused.running_seconds = 1e6;
  EXPECT_TRUE(liveness(reused).has_value());
}

TEST(ProcessLivenessTest, ARunOfAnotherHostIsGoneOnlyAfterItsHeartbeatLimit) {
  const ProcessLiveness liveness = local_process_liveness("thishost", 60);
  EXPECT_EQ(liveness(process_of("otherhost:5", 5, 59)), std::nullopt);
  const std::optional<std::string> why = liveness(process_of("otherhost:5", 5, 61));
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(*why, "no heartbeat for 61 s (limit 60 s)");
  // No worker named: the host that recorded the run is where it runs.
  EXPECT_EQ(liveness(process_of("", 5, 61)), why);
}
}  // namespace
}  // namespace armor
