#include "armor/store/run_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <string>

#include "armor/error.h"

namespace armor {
namespace {

// EXPECT_TRUE(contains(text, part)) prints both when it fails (plain gtest, no gmock needed).
::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

NewRun make_run(int index, std::int64_t k) {
  NewRun run;
  run.index = index;
  run.experiment = "experiments/moe.toml";
  run.config = "[model]\nk = " + std::to_string(k) + "\n";
  run.overrides = {"model.k=" + std::to_string(k)};
  run.config_hash = "hash" + std::to_string(k);
  run.seed = 42 + index;
  run.revision = "abc123";
  run.host = "testhost";
  run.params = {{"model.k", ParamValue{k}},
                {"train.lr", ParamValue{0.1}},
                {"model.name", ParamValue{std::string("moe")}},
                {"train.augment", ParamValue{true}}};
  return run;
}

NewSweep make_sweep() { return NewSweep{"k-sweep", "experiments/moe.toml", "model.k=1,2,3"}; }

// The single cell of a one-row, one-column query.
std::string scalar(const RunStore& store, const std::string& sql) {
  const QueryResult result = store.query(sql);
  if (result.rows.size() != 1 || result.rows[0].size() != 1) {
    ADD_FAILURE() << "expected one cell from " << sql;
    return "";
  }
  return result.rows[0][0];
}

// The message of the StoreError `body` throws, or a test failure when it throws none.
template <typename Body>
std::string store_error_of(Body&& body) {
  try {
    body();
  } catch (const StoreError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a StoreError";
  return "";
}

// A fresh directory for database files, removed with everything in it (WAL and SHM files too).
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("armor_run_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// ---- schema ------------------------------------------------------------------------------------

TEST(RunStoreTest, MigrationSetsUserVersionToSchemaVersion) {
  RunStore store(":memory:");
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                          "('sweeps', 'runs', 'params', 'metrics', 'epoch_metrics', 'expert_metrics')"),
            "6");
}

TEST(RunStoreTest, ReopeningAMigratedFileKeepsItsRuns) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  std::int64_t run_id = 0;
  {
    RunStore store(path);
    run_id = store.add_run(make_run(0, 2));
  }
  RunStore reopened(path);
  EXPECT_EQ(reopened.run(run_id).config_hash, "hash2");
  EXPECT_EQ(scalar(reopened, "PRAGMA user_version"), "1");
}

TEST(RunStoreTest, RefusesDatabaseFromNewerSchema) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  { RunStore store(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 7");
  }
  for (const RunStore::Mode mode : {RunStore::Mode::read_write, RunStore::Mode::read_only}) {
    const std::string message = store_error_of([&] { RunStore store(path, mode); });
    EXPECT_TRUE(contains(message, path));
    EXPECT_TRUE(contains(message, "schema version 7"));
    EXPECT_TRUE(contains(message, "supports up to 1"));
  }
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), 7) << "a refused database must stay untouched";
}

TEST(RunStoreTest, ReadOnlyOpenOfMissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing.db");
  const std::string message = store_error_of([&] { RunStore store(path, RunStore::Mode::read_only); });
  EXPECT_TRUE(contains(message, path));
  EXPECT_FALSE(std::filesystem::exists(path)) << "a read-only open must not create the file";
}

TEST(RunStoreTest, ReadOnlyOpenRefusesAFileThatIsNoArmorDatabase) {
  TempDir dir;
  const std::string path = dir.file("other.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE t (x)");
  }
  const std::string message = store_error_of([&] { RunStore store(path, RunStore::Mode::read_only); });
  EXPECT_TRUE(contains(message, "not an armor results database"));
}

TEST(RunStoreTest, FileDatabaseUsesWalAndReadOnlyStoreReadsButCannotWrite) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  RunStore writer(path);
  {
    // WAL is a property of the file, so a second connection sees it. (query() refuses
    // PRAGMA journal_mode: SQLite counts it as a statement that may write.)
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
  }
  const std::int64_t run_id = writer.add_run(make_run(0, 3));

  RunStore reader(path, RunStore::Mode::read_only);
  EXPECT_EQ(reader.run(run_id).status, RunStatus::pending);
  EXPECT_EQ(scalar(reader, "SELECT count(*) FROM runs"), "1");
  EXPECT_THROW(reader.start_run(run_id), StoreError);
  EXPECT_THROW(reader.add_run(make_run(1, 4)), StoreError);
  EXPECT_EQ(writer.run(run_id).status, RunStatus::pending);
  EXPECT_EQ(scalar(writer, "SELECT count(*) FROM runs"), "1");
}

// ---- writing runs ------------------------------------------------------------------------------

TEST(RunStoreTest, AddRunStoresEveryFieldAsPending) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.overrides = {"model.k=2", "name=\"quoted\" \\ back", "tab\there\nnewline", "ünï\x01"};
  const std::int64_t run_id = store.add_run(new_run);

  const RunRecord run = store.run(run_id);
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

TEST(RunStoreTest, OverridesAreStoredAsJsonArray) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.overrides = {"a=1", "b=\"x\""};
  const std::int64_t run_id = store.add_run(new_run);
  EXPECT_EQ(scalar(store, "SELECT overrides FROM runs WHERE id = " + std::to_string(run_id)),
            R"(["a=1","b=\"x\""])");
}

TEST(RunStoreTest, AddSweepWritesSweepRunsAndParamsWithNumericTypes) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});

  ASSERT_EQ(run_ids.size(), 3u);
  const std::vector<RunRecord> runs = store.runs(sweep_id);
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

TEST(RunStoreTest, ParamsReadBackWithTheirTypesInOrder) {
  RunStore store(":memory:");
  const NewRun new_run = make_run(0, 5);
  const std::int64_t run_id = store.add_run(new_run);
  EXPECT_EQ(store.params(run_id), new_run.params);
}

TEST(RunStoreTest, AddSweepWritesNothingWhenOneRunFails) {
  RunStore store(":memory:");
  NewRun broken = make_run(1, 2);
  broken.params.push_back({"model.k", ParamValue{std::int64_t{9}}});  // a duplicate primary key
  EXPECT_THROW(store.add_sweep(make_sweep(), {make_run(0, 1), broken}), StoreError);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sweeps"), "0");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM runs"), "0");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "0");
}

TEST(RunStoreTest, StoreErrorCarriesSqliteErrorCode) {
  RunStore store(":memory:");
  NewRun broken = make_run(0, 2);
  broken.params.push_back({"model.k", ParamValue{std::int64_t{9}}});
  try {
    store.add_run(broken);
    FAIL() << "expected a StoreError";
  } catch (const StoreError& error) {
    EXPECT_EQ(error.code(), 19);  // SQLITE_CONSTRAINT
    EXPECT_TRUE(contains(error.what(), "INSERT INTO params"));
    EXPECT_TRUE(contains(error.what(), "sqlite error 19"));
  }
}

TEST(RunStoreTest, StartRunMarksRunRunning) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.start_run(run_id);
  const RunRecord run = store.run(run_id);
  EXPECT_EQ(run.status, RunStatus::running);
  EXPECT_FALSE(run.started_at.empty());
}

TEST(RunStoreTest, FinishRunWritesMetricsAndStatus) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.start_run(run_id);
  store.finish_run(run_id, {{"clean_acc", 0.91}, {"pgd_acc", 0.45}});

  const RunRecord run = store.run(run_id);
  EXPECT_EQ(run.status, RunStatus::finished);
  EXPECT_FALSE(run.finished_at.empty());
  const std::map<std::string, double> expected{{"clean_acc", 0.91}, {"pgd_acc", 0.45}};
  EXPECT_EQ(store.metrics(run_id), expected);
}

TEST(RunStoreTest, FinishingAgainOverwritesAMetric) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.finish_run(run_id, {{"clean_acc", 0.5}});
  store.finish_run(run_id, {{"clean_acc", 0.75}});
  EXPECT_EQ(store.metrics(run_id).at("clean_acc"), 0.75);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM metrics"), "1");
}

TEST(RunStoreTest, NanMetricReadsBackAsNan) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.finish_run(run_id, {{"loss", std::nan("")}});
  EXPECT_TRUE(std::isnan(store.metrics(run_id).at("loss")));
}

TEST(RunStoreTest, FailRunRecordsTheError) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.start_run(run_id);
  store.fail_run(run_id, "loss became NaN at epoch 3");
  const RunRecord run = store.run(run_id);
  EXPECT_EQ(run.status, RunStatus::failed);
  EXPECT_EQ(run.error, "loss became NaN at epoch 3");
  EXPECT_FALSE(run.finished_at.empty());
}

TEST(RunStoreTest, FailRunLeavesAFinishedRunFinished) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.finish_run(run_id, {{"clean_acc", 0.9}});
  store.fail_run(run_id, "late failure");
  const RunRecord run = store.run(run_id);
  EXPECT_EQ(run.status, RunStatus::finished);
  EXPECT_TRUE(run.error.empty());
}

TEST(RunStoreTest, RecordEpochMetricsKeepsOneValuePerEpochAndKey) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.record_epoch_metrics(run_id, 1, {{"loss", 2.5}, {"train_acc", 0.25}});
  store.record_epoch_metrics(run_id, 2, {{"loss", 1.5}});
  store.record_epoch_metrics(run_id, 2, {{"loss", 1.25}});  // a repeated epoch overwrites

  const QueryResult result = store.query("SELECT epoch, key, value FROM epoch_metrics ORDER BY epoch, key");
  const std::vector<std::vector<std::string>> expected{
      {"1", "loss", "2.5"}, {"1", "train_acc", "0.25"}, {"2", "loss", "1.25"}};
  EXPECT_EQ(result.rows, expected);
}

TEST(RunStoreTest, RecordExpertMetricsKeysByLayerAndExpert) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.record_expert_metrics(run_id, "moe1", 0, {{"load", 0.5}});
  store.record_expert_metrics(run_id, "moe1", 1, {{"load", 0.25}});
  store.record_expert_metrics(run_id, "moe1", 1, {{"load", 0.125}});
  const QueryResult result = store.query("SELECT layer, expert, key, value FROM expert_metrics ORDER BY expert");
  const std::vector<std::vector<std::string>> expected{{"moe1", "0", "load", "0.5"}, {"moe1", "1", "load", "0.125"}};
  EXPECT_EQ(result.rows, expected);
}

TEST(RunStoreTest, WritesToAnUnknownRunThrowStoreErrorNamingIt) {
  RunStore store(":memory:");
  EXPECT_TRUE(contains(store_error_of([&] { store.start_run(999); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] { store.finish_run(999, {{"a", 1.0}}); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] { store.fail_run(999, "x"); }), "no run 999"));
  EXPECT_TRUE(contains(store_error_of([&] { store.record_epoch_metrics(999, 1, {{"a", 1.0}}); }),
                       "no run 999"));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM metrics"), "0");
}

// ---- sweeps ------------------------------------------------------------------------------------

TEST(RunStoreTest, FinishSweepIsFinishedWhenEveryRunFinished) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  for (const std::int64_t run_id : run_ids) store.finish_run(run_id, {{"clean_acc", 0.9}});
  store.finish_sweep(sweep_id);
  EXPECT_EQ(scalar(store, "SELECT status FROM sweeps"), "finished");
  EXPECT_EQ(scalar(store, "SELECT finished_at IS NOT NULL FROM sweeps"), "1");
}

TEST(RunStoreTest, FinishSweepIsFailedWhenAnyRunDidNotFinish) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.finish_run(run_ids[0], {{"clean_acc", 0.9}});
  store.fail_run(run_ids[1], "diverged");
  store.finish_sweep(sweep_id);
  EXPECT_EQ(scalar(store, "SELECT status FROM sweeps"), "failed");
}

TEST(RunStoreTest, RunsFiltersBySweepAndStatus) {
  RunStore store(":memory:");
  const std::int64_t single = store.add_run(make_run(0, 9));
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.finish_run(run_ids[1], {});

  EXPECT_EQ(store.runs().size(), 3u);
  EXPECT_EQ(store.runs(sweep_id).size(), 2u);
  const std::vector<RunRecord> pending = store.runs(std::nullopt, RunStatus::pending);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, single);
  EXPECT_EQ(pending[1].id, run_ids[0]);
  const std::vector<RunRecord> finished = store.runs(sweep_id, RunStatus::finished);
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].id, run_ids[1]);
}

// ---- reading -----------------------------------------------------------------------------------

TEST(RunStoreTest, RunOfUnknownIdThrowsStoreError) {
  RunStore store(":memory:");
  EXPECT_THROW(store.run(999), StoreError);
  EXPECT_TRUE(contains(store_error_of([&] { store.run(999); }), "999"));
}

TEST(RunStoreTest, QueryReturnsColumnsAndRowsAsText) {
  RunStore store(":memory:");
  store.add_run(make_run(0, 2));
  const QueryResult result =
      store.query("SELECT id, config_hash, error, seed * 0.5 AS half, 1.0 / 3 AS third, x'0aff' AS b FROM runs");
  const std::vector<std::string> columns{"id", "config_hash", "error", "half", "third", "b"};
  EXPECT_EQ(result.columns, columns);
  const std::vector<std::vector<std::string>> rows{{"1", "hash2", "NULL", "21", "0.3333333333333333", "X'0AFF'"}};
  EXPECT_EQ(result.rows, rows);
}

TEST(RunStoreTest, QueryWithNoRowsStillReturnsColumns) {
  RunStore store(":memory:");
  const QueryResult result = store.query("SELECT id, status FROM runs");
  EXPECT_EQ(result.columns, (std::vector<std::string>{"id", "status"}));
  EXPECT_TRUE(result.rows.empty());
}

TEST(RunStoreTest, QueryRejectsStatementsThatWrite) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  for (const std::string sql :
       {"INSERT INTO runs (experiment, config, config_hash, seed, revision, host) VALUES ('e','c','h',1,'r','x')",
        "UPDATE runs SET status = 'failed'", "DELETE FROM params", "DROP TABLE metrics",
        "CREATE TABLE extra (x)", "PRAGMA user_version = 5", "BEGIN", "ATTACH ':memory:' AS other",
        // These write and still return rows: only sqlite3_stmt_readonly catches them.
        "DELETE FROM params RETURNING key", "UPDATE runs SET status = 'failed' RETURNING id"}) {
    EXPECT_TRUE(contains(store_error_of([&] { store.query(sql); }), "read-only statements only: " + sql));
  }
  EXPECT_EQ(store.run(run_id).status, RunStatus::pending);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM runs"), "1");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "4");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE name IN ('metrics', 'extra')"), "1");
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), "1");
  store.start_run(run_id);  // no transaction was left open
  EXPECT_EQ(store.run(run_id).status, RunStatus::running);
}

TEST(RunStoreTest, QueryRejectsASecondStatement) {
  RunStore store(":memory:");
  EXPECT_TRUE(contains(store_error_of([&] { store.query("SELECT 1; DROP TABLE runs"); }), "one statement"));
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE name = 'runs'"), "1");
  EXPECT_EQ(scalar(store, "SELECT 2; -- a trailing comment"), "2");
}

TEST(RunStoreTest, QueryReportsSyntaxErrorsWithTheSql) {
  RunStore store(":memory:");
  const std::string message = store_error_of([&] { store.query("SELEC nonsense"); });
  EXPECT_TRUE(contains(message, "SELEC nonsense"));
  EXPECT_TRUE(contains(message, "sqlite error 1"));
}

// ---- small conversions -------------------------------------------------------------------------

TEST(RunStatusTest, StatusRoundTripsThroughText) {
  for (const RunStatus status : {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed}) {
    EXPECT_EQ(run_status_from_string(to_string(status)), status);
  }
  EXPECT_STREQ(to_string(RunStatus::failed), "failed");
  EXPECT_THROW(run_status_from_string("done"), StoreError);
}

TEST(ParamValueTest, DisplayStringQuotesStringsAndPrintsShortestNumbers) {
  EXPECT_EQ(to_display_string(ParamValue{true}), "true");
  EXPECT_EQ(to_display_string(ParamValue{false}), "false");
  EXPECT_EQ(to_display_string(ParamValue{std::int64_t{-3}}), "-3");
  EXPECT_EQ(to_display_string(ParamValue{0.1}), "0.1");
  EXPECT_EQ(to_display_string(ParamValue{1e-4}), "0.0001");
  EXPECT_EQ(to_display_string(ParamValue{std::string("abc")}), "\"abc\"");
  EXPECT_EQ(to_display_string(ParamValue{std::string("a\"b")}), "\"a\\\"b\"");
}

TEST(ParamValueTest, TypeNameNamesEachAlternative) {
  EXPECT_STREQ(type_name(ParamValue{true}), "boolean");
  EXPECT_STREQ(type_name(ParamValue{std::int64_t{1}}), "integer");
  EXPECT_STREQ(type_name(ParamValue{1.5}), "float");
  EXPECT_STREQ(type_name(ParamValue{std::string()}), "string");
}

}  // namespace
}  // namespace armor
