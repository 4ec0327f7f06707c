// Fault tests: nothing is lost when a sweep is killed at random points, when runs crash, throw or
// diverge, when two sweeps and a reader share runs.db, or when the database cannot be written.
// Every test is bounded in time (a process that overstays is killed and the test fails).

#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "armor/launch/process_liveness.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "cli_support.h"

namespace {
namespace fs = std::filesystem;
using namespace armor::testing;
using Clock = std::chrono::steady_clock;

// Runs of about a second each: 8x8 synthetic images, a ResNet of width x0.125, one epoch of two
// batches, PGD-1 for training and evaluation.
std::string small_runs() {
  return "trainer.epochs=2 trainer.batch_size=32 attack.steps=1 eval.attacks.pgd20.steps=1 "
         "model.width_multiplier=0.125";
}

std::string faulty_plugin() { return std::string(ARMOR_TEST_BINARY_DIR) + "/test_plugins/faulty_plugin.so"; }

std::string this_host() {
  char buffer[256] = {0};
  gethostname(buffer, sizeof buffer - 1);
  return buffer;
}

// Whether `pid` has ended (gone, or a zombie nobody reaped yet).
bool process_ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() || text[paren + 2] == 'Z' || text[paren + 2] == 'X';
}

// Drops the capabilities that let root ignore file permissions, for this process and what it
// executes, so that a 0444 file is read-only to it as it is to everyone else. False when the
// process may not drop them (no CAP_SETPCAP).
bool drop_permission_override() {
  for (const int capability : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER}) {
    if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) return false;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  for (const int capability : {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER}) {
    data[0].effective &= ~(1u << capability);
    data[0].permitted &= ~(1u << capability);
    data[0].inheritable &= ~(1u << capability);
  }
  return syscall(SYS_capset, &header, data) == 0;
}

class FaultTest : public CliTest {
 protected:
  std::string run_args() const { return " --db " + db_ + " --outputs " + outputs() + " "; }

  // The experiment of these tests: the quickstart with a [data] group of small synthetic images,
  // or of the faulty plugin's dataset failing in each of its ways.
  std::string experiment() const {
    const fs::path folder = dir_ / "experiment";
    fs::create_directories(folder / "data");
    std::ofstream(folder / "faults.toml") << "defaults = [\"" << quickstart() << "\", { data = \"synthetic\" }]\n";
    // test_limit = 0: the quickstart's 1000 would exceed the 32 test images, which is refused.
    std::ofstream(folder / "data" / "synthetic.toml")
        << "name = \"synthetic\"\ntrain_size = 64\ntest_size = 32\nimage_size = 8\ntest_limit = 0\n";
    for (const char* fault : {"throw", "segfault", "abort"}) {
      std::ofstream(folder / "data" / (std::string(fault) + ".toml"))
          << "name = \"faulty\"\nfault = \"" << fault << "\"\n";
    }
    return (folder / "faults.toml").string();
  }

  // Starts `armor <arguments>` as the leader of a new process group (so that it and its run
  // processes can be killed together), output into `log`. `prepare` runs in the child before exec.
  pid_t start(const std::string& arguments, const std::string& log, const std::function<bool()>& prepare = {}) const {
    const std::string command = "exec " + armor_program() + " " + arguments + " > " + (dir_ / log).string() + " 2>&1";
    const pid_t pid = fork();
    if (pid == 0) {
      setpgid(0, 0);
      if (prepare && !prepare()) _exit(125);
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    setpgid(pid, pid);
    return pid;
  }

  // The exit code of `pid`, or -1 after killing its group when it runs past `seconds`.
  static int wait_exit(pid_t pid, int seconds) {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (Clock::now() > deadline) {
        kill(-pid, SIGKILL);
        waitpid(pid, &status, 0);
        ADD_FAILURE() << "armor ran past its " << seconds << " s limit";
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // SIGKILL to the process group of `pid`, then waits until its run processes have ended too.
  void kill_group(pid_t pid) const {
    const std::vector<armor::RunRecord> before = store_runs();
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    for (const auto& run : before) {
      if (run.pid <= 0) continue;
      while (!process_ended(static_cast<pid_t>(run.pid)) && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  // Waits (up to `seconds`) until the database holds `runs` runs.
  bool wait_for_runs(std::int64_t runs, int seconds) const {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    while (Clock::now() < deadline) {
      try {
        if (count_runs() == runs) return true;
      } catch (const std::exception&) {
        // The database is being created.
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string log(const std::string& name) const {
    std::ifstream in(dir_ / name);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  std::vector<armor::RunRecord> store_runs() const {
    if (!fs::exists(db_)) return {};
    const armor::ResultsReader store(db_, armor::ResultsReader::Mode::read_only);
    return store.runs();
  }

  // What must hold after any fault: the file is sound, every finished run has its final metrics
  // exactly once, and no run that did not finish has any.
  void expect_consistent(const std::string& when) const {
    SCOPED_TRACE(when);
    EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(scalar("PRAGMA foreign_key_check"), "");
    EXPECT_EQ(
        scalar("SELECT count(*) FROM runs r WHERE status = 'finished' AND "
               "(SELECT count(*) FROM metrics m WHERE m.run_id = r.id AND key IN ('clean_acc', 'pgd20_acc')) != 2"),
        "0");
    EXPECT_EQ(scalar("SELECT count(*) FROM metrics m JOIN runs r ON r.id = m.run_id WHERE r.status != 'finished'"),
              "0");
  }
};

TEST_F(FaultTest, SweepKilledAtRandomPointsResumesWithNoRunLostOrRepeated) {
  const unsigned seed = std::random_device()();
  SCOPED_TRACE("kill times drawn with seed " + std::to_string(seed));
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> kill_after_ms(300, 3500);
  constexpr int kRuns = 6;

  const pid_t first = start("run " + experiment() + run_args() + "--jobs 2 --multirun 'run.seed=range(0," +
                                std::to_string(kRuns) + ")' " + small_runs(),
                            "sweep.log");
  ASSERT_TRUE(wait_for_runs(kRuns, 60)) << log("sweep.log");

  // Three kills: the sweep itself, then two resumes, each at a random moment.
  std::map<std::int64_t, std::string> finished;  // run id -> its attempt and end, which must never change
  const auto signature = [](const armor::RunRecord& run) {
    return std::to_string(run.attempt) + " " + run.finished_at;
  };
  int interrupted = 0;
  pid_t process = first;
  for (int round = 0; round < 3; ++round) {
    if (round > 0) process = start("sweep resume 1 --jobs 2 --db " + db_, "resume" + std::to_string(round) + ".log");
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms(random)));
    kill_group(process);
    const std::string when = "after kill " + std::to_string(round + 1);
    expect_consistent(when);
    EXPECT_EQ(count_runs(), kRuns) << when;

    // What a resume does first: the runs whose process is gone are marked interrupted, with why.
    std::set<std::int64_t> running;
    for (const auto& run : store_runs()) {
      if (run.status == armor::RunStatus::running) running.insert(run.id);
    }
    std::vector<std::int64_t> reaped;
    {
      armor::RunStore store(db_);
      reaped = store.queue().reap_dead_runs(1, armor::local_process_liveness(this_host(), 60.0));
    }
    EXPECT_EQ(std::set<std::int64_t>(reaped.begin(), reaped.end()), running) << when;
    interrupted += static_cast<int>(reaped.size());
    for (const auto& run : store_runs()) {
      if (running.count(run.id) != 0) {
        EXPECT_EQ(run.status, armor::RunStatus::interrupted) << when << ", run " << run.id;
        EXPECT_TRUE(contains(run.error, "is gone")) << run.error;
      }
      if (run.status == armor::RunStatus::finished) {
        const auto entry = finished.emplace(run.id, signature(run)).first;
        EXPECT_EQ(entry->second, signature(run)) << "finished run " << run.id << " ran again " << when;
      }
    }
  }

  const Result resume = run_armor("sweep resume 1 --jobs 2 --db " + db_);
  ASSERT_EQ(resume.exit_code, 0) << resume.output;
  expect_consistent("after the last resume");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs"), std::to_string(kRuns));
  EXPECT_EQ(scalar("SELECT count(DISTINCT idx) FROM runs"), std::to_string(kRuns));
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), std::to_string(kRuns));
  EXPECT_EQ(
      scalar("SELECT group_concat(value, ',') FROM (SELECT value FROM params WHERE key = 'run.seed' ORDER BY value)"),
      "0,1,2,3,4,5");
  EXPECT_EQ(scalar("SELECT count(*) FROM epoch_metrics WHERE key = 'train_loss'"), std::to_string(2 * kRuns));
  EXPECT_EQ(scalar("SELECT status FROM sweeps WHERE id = 1"), "finished");
  for (const auto& run : store_runs()) {
    if (finished.count(run.id) != 0) {
      EXPECT_EQ(finished.at(run.id), signature(run)) << "run " << run.id << " ran twice";
    }
  }
  RecordProperty("interrupted_runs", interrupted);
}

TEST_F(FaultTest, RunsThatThrowCrashAbortOrDivergeAreRecordedWithTheirReasonAndTheSweepGoesOn) {
  const Result result = run_armor("run " + experiment() + run_args() + "--plugin-path " + faulty_plugin() + " " +
                                  small_runs() + " --multirun 'data=zip(throw,segfault,abort,synthetic,synthetic)' " +
                                  "'trainer.lr=zip(0.05,0.05,0.05,1e30,0.05)'");
  EXPECT_EQ(result.exit_code, 1) << result.output;
  EXPECT_EQ(scalar("SELECT group_concat(status, ',') FROM (SELECT status FROM runs ORDER BY idx)"),
            "failed,failed,failed,diverged,finished");
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 0"), "factory threw on purpose"));
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 0"), "faulty_plugin.so"));
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 1"), "killed by signal 11"));
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 2"), "killed by signal 6"));
  EXPECT_TRUE(contains(scalar("SELECT error FROM runs WHERE idx = 3"), "non-finite training loss"));
  EXPECT_TRUE(contains(result.output, "1 of 5 runs finished (3 failed, 1 diverged")) << result.output;
  expect_consistent("after the faulty sweep");
}

TEST_F(FaultTest, TwoSweepsAndAReaderShareOneDatabaseWithoutLosingAWrite) {
  // Both sweeps start at once on a database that does not exist yet: both create it.
  const std::string sweep =
      "run " + experiment() + run_args() + small_runs() + " trainer.epochs=1 --multirun 'run.seed=range(0,2)'";
  const pid_t first = start(sweep, "first.log");
  const pid_t second = start(sweep + " trainer.lr=0.1", "second.log");
  int reads = 0;
  std::string failed_reads;
  while (waitpid(first, nullptr, WNOHANG) == 0 || waitpid(second, nullptr, WNOHANG) == 0) {
    if (fs::exists(db_)) {
      const char* command = reads % 2 == 0 ? "db list --format csv" : "db sql 'SELECT count(*) FROM results'";
      const Result read = run_armor(std::string(command) + " --db " + db_);
      ++reads;
      // A database still being created is not one yet; anything else is a failed read.
      if (read.exit_code != 0 && !contains(read.output, "has schema version 0")) failed_reads += read.output;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    if (reads > 2000) break;
  }
  // Both have exited by now (waitpid above reaped them); their logs tell how.
  const std::string first_log = log("first.log");
  const std::string second_log = log("second.log");
  EXPECT_TRUE(contains(first_log, "2 of 2 runs finished")) << first_log;
  EXPECT_TRUE(contains(second_log, "2 of 2 runs finished")) << second_log;
  for (const std::string& text : {first_log, second_log, failed_reads}) {
    EXPECT_FALSE(contains(text, "locked")) << text;
    EXPECT_FALSE(contains(text, "busy")) << text;
  }
  EXPECT_EQ(failed_reads, "");
  EXPECT_GT(reads, 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM sweeps WHERE status = 'finished'"), "2");
  EXPECT_EQ(scalar("SELECT count(*) FROM runs WHERE status = 'finished'"), "4");
  EXPECT_EQ(scalar("SELECT count(*) FROM epoch_metrics WHERE key = 'train_loss'"), "4");
  expect_consistent("after two sweeps and a reader");
  RecordProperty("reads", reads);
}

TEST_F(FaultTest, AReadOnlyDatabaseIsAClearErrorAndNothingIsWritten) {
  { armor::RunStore create(db_); }  // an empty, current database
  const bool root = geteuid() == 0;
  fs::permissions(db_, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  const pid_t pid =
      start("run " + experiment() + " --db " + db_ + " --outputs " + outputs() + " " + small_runs(), "../readonly.log",
            root ? std::function<bool()>(drop_permission_override) : std::function<bool()>());
  const int code = wait_exit(pid, 60);
  fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add);
  std::ifstream in(dir_.parent_path() / "readonly.log");
  const std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(dir_.parent_path() / "readonly.log");
  if (code == 125) GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here, so root writes any file";
  EXPECT_EQ(code, 1) << output;
  EXPECT_TRUE(contains(output, "armor: results database error:")) << output;
  EXPECT_TRUE(contains(output, db_)) << output;
  EXPECT_TRUE(contains(output, "readonly database") || contains(output, "read-only")) << output;
  EXPECT_EQ(count_runs(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM sweeps"), "0");
}

TEST_F(FaultTest, AFullDiskIsAClearErrorAndLeavesNoPartialSweep) {
  { armor::RunStore create(db_); }
  // The file size limit stops every write past 64 KiB with EFBIG, as a full disk would; the sweep's
  // 400 runs with their params take far more than that in one transaction.
  const auto limit_file_size = [] {
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{64 * 1024, 64 * 1024};
    return setrlimit(RLIMIT_FSIZE, &limit) == 0;
  };
  const pid_t pid =
      start("run " + experiment() + run_args() + small_runs() + " --multirun 'run.seed=range(0,400)' --record-only",
            "full.log", limit_file_size);
  const int code = wait_exit(pid, 60);
  const std::string output = log("full.log");
  EXPECT_EQ(code, 1) << output;
  EXPECT_TRUE(contains(output, "armor: results database error:")) << output;
  EXPECT_TRUE(contains(output, db_)) << output;
  EXPECT_TRUE(contains(output, "disk")) << output;
  EXPECT_EQ(count_runs(), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM sweeps"), "0");
  EXPECT_EQ(scalar("SELECT count(*) FROM params"), "0");
  EXPECT_EQ(scalar("PRAGMA integrity_check"), "ok");
  // The same sweep, with room, records every run.
  const Result again = run_armor("run " + experiment() + run_args() + small_runs() +
                                 " --multirun 'run.seed=range(0,400)' --record-only");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(count_runs(), 400);
}

}  // namespace
