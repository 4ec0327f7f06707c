// ResultsReader: reading records back, `armor db`'s selections (--where, --order-by), the read-only
// SQL of `armor db sql`, and the runs that a liveness check passed in shows as interrupted.

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "armor/store/run_store.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

TEST(ResultsReaderTest, ParamsReadBackWithTheirTypesInOrder) {
  RunStore store(":memory:");
  const NewRun new_run = make_run(0, 5);
  const std::int64_t run_id = store.queue().add_run(new_run);
  EXPECT_EQ(store.reader().params(run_id), new_run.params);
}

TEST(ResultsReaderTest, RunsFiltersBySweepAndStatus) {
  RunStore store(":memory:");
  const std::int64_t single = store.queue().add_run(make_run(0, 9));
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.queue().finish_run(run_ids[1], {});

  EXPECT_EQ(store.reader().runs().size(), 3u);
  EXPECT_EQ(store.reader().runs(sweep_id).size(), 2u);
  const std::vector<RunRecord> pending = store.reader().runs(std::nullopt, RunStatus::pending);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, single);
  EXPECT_EQ(pending[1].id, run_ids[0]);
  const std::vector<RunRecord> finished = store.reader().runs(sweep_id, RunStatus::finished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, run_ids[1]);
}

TEST(ResultsReaderTest, RunOfUnknownIdThrowsStoreError) {
  RunStore store(":memory:");
  EXPECT_THROW(store.reader().run(999), StoreError);
  EXPECT_TRUE(contains(store_error_of([&] { store.reader().run(999); }), "999"));
}

TEST(ResultsReaderTest, FinishedTrainedRunWithHashFindsOnlyFinishedRuns) {
  RunStore store(":memory:");
  const std::int64_t pending = store.queue().add_run(make_run(0, 2));
  EXPECT_EQ(store.reader().finished_trained_run_with_hash("hash2"), std::nullopt);
  const std::int64_t done = store.queue().add_run(make_run(1, 2));
  store.queue().finish_run(done, {});
  EXPECT_EQ(store.reader().finished_trained_run_with_hash("hash2"), done);
  EXPECT_NE(store.reader().finished_trained_run_with_hash("hash2"), pending);
  EXPECT_EQ(store.reader().finished_trained_run_with_hash("nope"), std::nullopt);
}

// `armor eval 2 --new-run model.alpha=0.5` records the config hash of a run trained at alpha 0.5, but
// its weights were trained at run 2's alpha: it is no run trained under that config.
TEST(ResultsReaderTest, AnEvaluationOfOtherWeightsIsNoTrainedRunOfItsConfig) {
  for (const char* kind : {kEvaluatedCheckpointArtifact, kModelFileArtifact}) {
    RunStore store(":memory:");
    const std::int64_t evaluation = store.queue().add_run(make_run(0, 2));
    store.records().record_artifact(evaluation, kind, "/elsewhere/model.pt", "ab12");
    store.queue().finish_run(evaluation, {});
    EXPECT_EQ(store.reader().finished_trained_run_with_hash("hash2"), std::nullopt) << kind;
    const std::int64_t trained = store.queue().add_run(make_run(1, 2));
    store.records().record_artifact(trained, "checkpoint", "/runs/model.pt", "cd34");
    store.queue().finish_run(trained, {});
    const std::int64_t later_evaluation = store.queue().add_run(make_run(2, 2));
    store.records().record_artifact(later_evaluation, kind, "/elsewhere/model.pt", "ab12");
    store.queue().finish_run(later_evaluation, {});
    EXPECT_EQ(store.reader().finished_trained_run_with_hash("hash2"), trained) << kind;
  }
}

TEST(ResultsReaderTest, SweepReadsBackAndLatestSweepIsTheNewest) {
  RunStore store(":memory:");
  EXPECT_EQ(store.reader().latest_sweep_id(), std::nullopt);
  const std::int64_t first = store.queue().add_sweep(make_sweep(), {make_run(0, 1)}).first;
  const std::int64_t second = store.queue().add_sweep(NewSweep{"b", "e.toml", "x=1,2"}, {make_run(0, 1)}).first;
  EXPECT_EQ(store.reader().latest_sweep_id(), second);
  const SweepRecord sweep = store.reader().sweep(first);
  EXPECT_EQ(sweep.name, "k-sweep");
  EXPECT_EQ(sweep.spec, "model.k=1,2,3");
  EXPECT_EQ(sweep.status, "running");
  EXPECT_EQ(store.reader().sweeps().size(), 2u);
  EXPECT_THROW(store.reader().sweep(99), StoreError);
}

TEST(ResultsReaderTest, QueryReturnsColumnsAndRowsAsText) {
  RunStore store(":memory:");
  store.queue().add_run(make_run(0, 2));
  const QueryResult result = store.reader().query(
      "SELECT id, config_hash, error, seed * 0.5 AS half, 1.0 / 3 AS third, x'0aff' AS b FROM runs");
  const std::vector<std::string> columns{"id", "config_hash", "error", "half", "third", "b"};
  EXPECT_EQ(result.columns, columns);
  const std::vector<std::vector<std::string>> rows{{"1", "hash2", "NULL", "21", "0.3333333333333333", "X'0AFF'"}};
  EXPECT_EQ(result.rows, rows);
}

TEST(ResultsReaderTest, QueryWithNoRowsStillReturnsColumns) {
  RunStore store(":memory:");
  const QueryResult result = store.reader().query("SELECT id, status FROM runs");
  EXPECT_EQ(result.columns, (std::vector<std::string>{"id", "status"}));
  EXPECT_TRUE(result.rows.empty());
}

TEST(ResultsReaderTest, QueryRejectsStatementsThatWrite) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.queue().add_run(make_run(0, 2));
  for (const std::string sql :
       {"INSERT INTO runs (experiment, config, config_hash, seed, revision, host) VALUES ('e','c','h',1,'r','x')",
        "UPDATE runs SET status = 'failed'", "DELETE FROM params", "DROP TABLE metrics", "CREATE TABLE extra (x)",
        "PRAGMA user_version = 5", "BEGIN", "ATTACH ':memory:' AS other",
        // These write and still return rows: only sqlite3_stmt_readonly catches them.
        "DELETE FROM params RETURNING key", "UPDATE runs SET status = 'failed' RETURNING id"}) {
    EXPECT_TRUE(contains(store_error_of([&] { store.reader().query(sql); }), "read-only statements only: " + sql));
  }
  EXPECT_EQ(store.reader().run(run_id).status, RunStatus::pending);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM runs"), "1");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "4");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE name IN ('metrics', 'extra')"), "1");
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  store.queue().start_run(run_id);  // no transaction was left open
  EXPECT_EQ(store.reader().run(run_id).status, RunStatus::running);
}

TEST(ResultsReaderTest, QueryRejectsASecondStatement) {
  RunStore store(":memory:");
  EXPECT_TRUE(contains(store_error_of([&] { store.reader().query("SELECT 1; DROP TABLE runs"); }), "one statement"));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'"), "1");
  EXPECT_EQ(scalar(store, "SELECT 2; -- a trailing comment"), "2");
}

TEST(ResultsReaderTest, QueryReportsSyntaxErrorsWithTheSql) {
  RunStore store(":memory:");
  const std::string message = store_error_of([&] { store.reader().query("SELEC nonsense"); });
  EXPECT_TRUE(contains(message, "SELEC nonsense"));
  EXPECT_TRUE(contains(message, "sqlite error 1"));
}

TEST(ResultsReaderTest, OverridesThatAreNoJsonArrayOfStringsNameTheStoredText) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  { RunStore(path).queue().add_run(make_run(0, 1)); }
  for (const std::string& stored :
       {std::string("[\"a=1\", 2]"), std::string("{\"a\": 1}"), std::string("[\"unterminated")}) {
    {
      SQLite::Database raw(path, SQLite::OPEN_READWRITE);
      SQLite::Statement update(raw, "UPDATE runs SET overrides = ?");
      update.bind(1, stored);
      update.exec();
    }
    const ResultsReader reader(path);
    const std::string message = store_error_of([&] { reader.run(1); });
    EXPECT_TRUE(contains(message, "malformed overrides " + stored)) << message;
  }
}

// ---- running runs as a read-only view shows them ------------------------------------------------------

TEST(ResultsReaderTest, DeadRunsAreTheRunningRunsTheLivenessCheckCallsGoneAndNothingIsWritten) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  std::vector<std::int64_t> run_ids;
  {
    RunStore store(path);
    run_ids = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)}).second;
    store.queue().add_run(make_run(0, 4));
    for (const std::int64_t run_id : run_ids) {
      store.queue().claim_run(1, "w:1");
      store.queue().start_run(run_id, run_id * 10);
    }
    store.queue().fail_run(run_ids[2], "crashed");
  }
  const ResultsReader reader(path, ResultsReader::Mode::read_only);
  const ProcessLiveness only_pid_20_lives = [](const RunningProcess& process) -> std::optional<std::string> {
    if (process.pid == 20) return std::nullopt;
    return "pid " + std::to_string(process.pid) + " said the fake";
  };
  const std::vector<std::pair<std::int64_t, std::string>> expected{{run_ids[0], "interrupted: pid 10 said the fake"}};
  EXPECT_EQ(reader.dead_runs(std::nullopt, only_pid_20_lives), expected);
  EXPECT_EQ(reader.dead_runs(1, only_pid_20_lives), expected);
  EXPECT_TRUE(reader.dead_runs(2, only_pid_20_lives).empty());
  EXPECT_EQ(reader.run(run_ids[0]).status, RunStatus::running) << "a reader never writes";
  const ProcessLiveness all_alive = [](const RunningProcess&) { return std::optional<std::string>(); };
  EXPECT_TRUE(reader.dead_runs(std::nullopt, all_alive).empty());
}

// ---- queries for armor db ------------------------------------------------------------------------

// Six runs: model.k in {1, 2, 3} x trainer.beta in {1.0, 6.0}; clean_acc = k / 10 + beta / 100.
class ResultsReaderQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<NewRun> runs;
    for (const std::int64_t k : {1, 2, 3}) {
      for (const double beta : {1.0, 6.0}) {
        NewRun run = make_run(static_cast<int>(runs.size()), k);
        run.params.push_back({"trainer.beta", ParamValue{beta}});
        runs.push_back(run);
      }
    }
    ids_ = store_.queue().add_sweep(make_sweep(), runs).second;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      const double k = static_cast<double>(i / 2 + 1);
      const double beta = i % 2 == 0 ? 1.0 : 6.0;
      if (i == 5) {
        store_.queue().fail_run(ids_[i], "boom");
      } else {
        store_.queue().finish_run(ids_[i], {{"clean_acc", k / 10 + beta / 100}});
      }
    }
  }

  std::vector<std::int64_t> ids_of(const RunFilter& filter) const {
    std::vector<std::int64_t> ids;
    for (const RunSummary& run : store_.reader().find_runs(filter)) ids.push_back(run.run.id);
    return ids;
  }
  std::vector<std::int64_t> where(const std::string& expression) const {
    RunFilter filter;
    filter.where = expression;
    return ids_of(filter);
  }

  RunStore store_{":memory:"};
  std::vector<std::int64_t> ids_;
};

TEST_F(ResultsReaderQueryTest, WhereCombinesTypedComparisonsWithBooleanLogic) {
  EXPECT_EQ(where("trainer.beta >= 3 and (model.k = 1 or model.k = 2)"), (std::vector<std::int64_t>{ids_[1], ids_[3]}));
  EXPECT_EQ(where("not model.k in (1, 3)"), (std::vector<std::int64_t>{ids_[2], ids_[3]}));
  EXPECT_EQ(where("model.k between 2 and 3 and trainer.beta < 2"), (std::vector<std::int64_t>{ids_[2], ids_[4]}));
  EXPECT_EQ(where("clean_acc is null"), std::vector<std::int64_t>{ids_[5]});
  EXPECT_EQ(where("clean_acc > 0.3"), std::vector<std::int64_t>{ids_[4]});
  EXPECT_EQ(where("status = 'failed' or id = " + std::to_string(ids_[0])),
            (std::vector<std::int64_t>{ids_[0], ids_[5]}));
  EXPECT_EQ(where("model.name = \"moe\" and train.augment = true and model.k != 2").size(), 4u);
  EXPECT_TRUE(where("model.k > 10").empty()) << "numbers compare as numbers, not text";
}

TEST_F(ResultsReaderQueryTest, WhereBindsValuesSoQuotesCannotInjectSql) {
  EXPECT_TRUE(where("model.name = 'x'' OR 1=1 --'").empty());
  EXPECT_EQ(store_.reader().runs().size(), 6u);
}

TEST_F(ResultsReaderQueryTest, WhereRefusesUnknownNamesWithASuggestion) {
  try {
    where("model.kk = 1");
    FAIL() << "expected a UsageError";
  } catch (const UsageError& error) {
    EXPECT_TRUE(contains(error.what(), "model.kk"));
    EXPECT_TRUE(contains(error.what(), "did you mean 'model.k'"));
  }
  EXPECT_THROW(where("model.k = "), UsageError);
  EXPECT_THROW(where("trainer.name = pgd"), UsageError) << "an unquoted word is a name";
}

TEST_F(ResultsReaderQueryTest, FindRunsFiltersSortsAndCarriesParamsAndMetrics) {
  RunFilter filter;
  filter.statuses = {RunStatus::finished};
  filter.order_by = "clean_acc";
  filter.descending = true;
  const std::vector<RunSummary> runs = store_.reader().find_runs(filter);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[0].run.id, ids_[4]);
  EXPECT_DOUBLE_EQ(runs[0].metrics.at("clean_acc"), 0.31);
  EXPECT_EQ(runs[0].params.size(), 5u);
  EXPECT_EQ(runs[0].params.back().first, "trainer.beta");
  EXPECT_EQ(runs.back().run.id, ids_[0]);

  filter = RunFilter{};
  filter.order_by = "clean_acc";
  EXPECT_EQ(store_.reader().find_runs(filter).back().run.id, ids_[5]) << "runs without the value come last";
  filter = RunFilter{};
  filter.run_ids = {ids_[2], ids_[0]};
  EXPECT_EQ(ids_of(filter), (std::vector<std::int64_t>{ids_[0], ids_[2]}));
  filter.sweep_id = 99;
  EXPECT_TRUE(ids_of(filter).empty());
}

TEST_F(ResultsReaderQueryTest, ResultsViewHasOneRowPerRunWithParamsAndMetricsAsColumns) {
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM results"), "6");
  EXPECT_EQ(
      scalar(store_, R"(SELECT group_concat(run_id, ' ') FROM results WHERE "trainer.beta" > 3 AND "model.k" <= 2)"),
      std::to_string(ids_[1]) + " " + std::to_string(ids_[3]));
  EXPECT_EQ(scalar(store_, R"(SELECT clean_acc FROM results WHERE "model.k" = 3 AND "trainer.beta" = 1)"), "0.31");
}

TEST_F(ResultsReaderQueryTest, RemoveRunsDeletesEverythingAboutThemAndReturnsTheirFolders) {
  store_.records().set_output_dir(ids_[0], "/tmp/a");
  store_.records().record_provenance(ids_[0], {{"host", "x"}});
  EXPECT_EQ(store_.queue().remove_runs({ids_[0], ids_[1]}), std::vector<std::string>{"/tmp/a"});
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "4");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM params WHERE run_id IN (1, 2)"), "0");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM provenance"), "0");
  EXPECT_THROW(store_.queue().remove_runs({ids_[2], 999}), StoreError);
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "4") << "all or nothing";
  const std::int64_t sweep_id = *store_.reader().runs().front().sweep_id;
  store_.queue().remove_sweep(sweep_id);
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "0");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM sweeps"), "0");
}

TEST_F(ResultsReaderQueryTest, KnownNamesListFieldsParamsAndMetrics) {
  const std::vector<std::string> names = store_.reader().known_names();
  for (const char* name : {"id", "status", "model.k", "trainer.beta", "clean_acc"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

}  // namespace
}  // namespace armor
