#include "armor/store/run_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
                          "('sweeps', 'runs', 'params', 'metrics', 'epoch_metrics', 'expert_metrics', "
                          "'artifacts', 'provenance')"),
            "8");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name IN "
                          "('results', 'curves', 'experts')"),
            "3");
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
  EXPECT_EQ(scalar(reopened, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
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
    EXPECT_TRUE(contains(message, "supports up to " + std::to_string(RunStore::kSchemaVersion)));
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
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
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

// ---- schema version 2: migration from version 1 ---------------------------------------------------

// The schema of armor's first release (user_version 1), as it was written then.
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE sweeps (id INTEGER PRIMARY KEY, name TEXT NOT NULL, experiment TEXT NOT NULL, spec TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), finished_at TEXT);
CREATE TABLE runs (id INTEGER PRIMARY KEY, sweep_id INTEGER REFERENCES sweeps(id), idx INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'finished', 'failed')),
  experiment TEXT NOT NULL, config TEXT NOT NULL, overrides TEXT NOT NULL DEFAULT '[]', config_hash TEXT NOT NULL,
  seed INTEGER NOT NULL, revision TEXT NOT NULL, host TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')), started_at TEXT, finished_at TEXT, error TEXT);
CREATE INDEX runs_sweep_id ON runs(sweep_id);
CREATE INDEX runs_status ON runs(status);
CREATE TABLE params (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL, value,
  type TEXT NOT NULL CHECK (type IN ('boolean', 'integer', 'float', 'string')), PRIMARY KEY (run_id, key));
CREATE INDEX params_key_value ON params(key, value);
CREATE TABLE metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, key TEXT NOT NULL, value REAL,
  PRIMARY KEY (run_id, key));
CREATE INDEX metrics_key ON metrics(key);
CREATE TABLE epoch_metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, epoch INTEGER NOT NULL,
  key TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, epoch, key));
CREATE TABLE expert_metrics (run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE, layer TEXT NOT NULL,
  expert INTEGER NOT NULL, key TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, layer, expert, key));
INSERT INTO sweeps (id, name, experiment, spec, status) VALUES (1, 'old', 'e.toml', 'model.k=1,2', 'finished');
INSERT INTO runs (id, sweep_id, idx, status, experiment, config, overrides, config_hash, seed, revision, host, error)
  VALUES (1, 1, 0, 'finished', 'e.toml', '[model]', '["model.k=1"]', 'h1', 7, 'r1', 'oldhost', NULL),
         (2, 1, 1, 'failed', 'e.toml', '[model]', '["model.k=2"]', 'h2', 7, 'r1', 'oldhost', 'boom');
INSERT INTO params VALUES (1, 'model.k', 1, 'integer'), (2, 'model.k', 2, 'integer');
INSERT INTO metrics VALUES (1, 'clean_acc', 0.75);
INSERT INTO epoch_metrics VALUES (1, 1, 'train_loss', 2.5);
INSERT INTO expert_metrics VALUES (1, 'moe', 0, 'usage_share', 1.0);
PRAGMA user_version = 1;
)sql";

TEST(RunStoreMigrationTest, MigratesAVersion1DatabaseKeepingEveryRecord) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  RunStore store(path);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  const RunRecord first = store.run(1);
  EXPECT_EQ(first.status, RunStatus::finished);
  EXPECT_EQ(first.overrides, std::vector<std::string>{"model.k=1"});
  EXPECT_EQ(first.host, "oldhost");
  EXPECT_EQ(first.attempt, 0);
  EXPECT_TRUE(first.output_dir.empty());
  EXPECT_EQ(store.run(2).error, "boom");
  EXPECT_EQ(store.metrics(1).at("clean_acc"), 0.75);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "2") << "dropping the old runs table must not cascade";
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM epoch_metrics"), "1");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM expert_metrics"), "1");
  // The new statuses are accepted, and the views show the old data.
  store.fail_run(store.add_run(make_run(0, 3)), "nan", RunStatus::diverged);
  EXPECT_EQ(scalar(store, R"(SELECT "model.k" || ' ' || clean_acc FROM results WHERE run_id = 1)"), "1 0.75");
  EXPECT_EQ(scalar(store, "SELECT train_loss FROM curves WHERE run_id = 1 AND epoch = 1"), "2.5");
  EXPECT_EQ(scalar(store, "SELECT usage_share FROM experts WHERE run_id = 1"), "1");
}

TEST(RunStoreMigrationTest, MigratedRunsAndSweepsGetDistinctUidsAndKeepTheirIds) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  RunStore store(path);
  const RunRecord first = store.run(1);
  const RunRecord second = store.run(2);
  EXPECT_EQ(first.uid.size(), 32u);
  EXPECT_NE(first.uid, second.uid);
  EXPECT_EQ(store.sweep(1).uid.size(), 32u);
  EXPECT_EQ(scalar(store, "SELECT run_uid FROM results WHERE run_id = 2"), second.uid);
  // Deleting the newest migrated run does not free its id.
  store.remove_runs({2});
  EXPECT_EQ(store.add_run(make_run(0, 5)), 3);
}

TEST(RunStoreMigrationTest, QueryModeMigratesAnOlderDatabaseThenReadsOnly) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  EXPECT_THROW(RunStore(path, RunStore::Mode::read_only), StoreError);
  RunStore store(path, RunStore::Mode::query);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(store.runs().size(), 2u);
  EXPECT_THROW(store.add_run(make_run(0, 1)), StoreError) << "query mode must not write";
}

TEST(RunStoreMigrationTest, QueryModeRefusesANewerDatabase) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  { RunStore store(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = " + std::to_string(RunStore::kSchemaVersion + 1));
  }
  EXPECT_TRUE(contains(store_error_of([&] { RunStore store(path, RunStore::Mode::query); }),
                       "schema version " + std::to_string(RunStore::kSchemaVersion + 1)));
}

// ---- identities: uids and ids that are never reused ------------------------------------------------

TEST(RunStoreIdentityTest, EveryRunAndSweepHasAUidNoOtherDatabaseShares) {
  RunStore first(":memory:");
  RunStore second(":memory:");
  const auto [sweep_a, runs_a] = first.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  const auto [sweep_b, runs_b] = second.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  ASSERT_EQ(sweep_a, sweep_b) << "ids restart in every database; uids must not";
  EXPECT_NE(first.sweep(sweep_a).uid, second.sweep(sweep_b).uid);
  for (std::size_t i = 0; i < runs_a.size(); ++i) {
    const std::string uid = first.run(runs_a[i]).uid;
    EXPECT_EQ(uid.size(), 32u);
    EXPECT_EQ(uid.find_first_not_of("0123456789abcdef"), std::string::npos) << uid;
    EXPECT_NE(uid, second.run(runs_b[i]).uid);
  }
  EXPECT_NE(first.run(runs_a[0]).uid, first.run(runs_a[1]).uid);
}

TEST(RunStoreIdentityTest, IdsOfDeletedRunsAndSweepsAreNeverReused) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.remove_sweep(sweep_id);
  const auto [next_sweep, next_runs] = store.add_sweep(make_sweep(), {make_run(0, 1)});
  EXPECT_GT(next_sweep, sweep_id);
  EXPECT_GT(next_runs[0], run_ids[1]);
  const std::int64_t single = store.add_run(make_run(0, 3));
  store.remove_runs({single});
  EXPECT_GT(store.add_run(make_run(0, 4)), single);
}

// ---- the run lifecycle of the launcher -----------------------------------------------------------

TEST(RunStoreLifecycleTest, ClaimRunTakesPendingRunsInIndexOrderOnce) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});
  store.finish_run(run_ids[0], {});
  EXPECT_EQ(store.claim_run(sweep_id, "hostA:10"), run_ids[1]);
  EXPECT_EQ(store.claim_run(sweep_id, "hostA:11"), run_ids[2]);
  EXPECT_EQ(store.claim_run(sweep_id, "hostA:12"), std::nullopt);
  const RunRecord claimed = store.run(run_ids[1]);
  EXPECT_EQ(claimed.status, RunStatus::running);
  EXPECT_EQ(claimed.worker, "hostA:10");
  EXPECT_EQ(claimed.attempt, 1);
  EXPECT_FALSE(claimed.heartbeat_at.empty());
  EXPECT_EQ(store.claim_run(sweep_id + 1, "hostA:10"), std::nullopt);
}

TEST(RunStoreLifecycleTest, ClaimRunIsAtomicAcrossProcesses) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  std::vector<NewRun> runs;
  for (int i = 0; i < 40; ++i) runs.push_back(make_run(i, i + 1));
  const std::int64_t sweep_id = RunStore(path).add_sweep(make_sweep(), runs).first;
  std::vector<pid_t> children;
  for (int worker = 0; worker < 4; ++worker) {
    const pid_t child = ::fork();
    if (child == 0) {
      int code = 0;
      try {
        RunStore store(path);
        while (store.claim_run(sweep_id, "w:" + std::to_string(worker))) {
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

TEST(RunStoreLifecycleTest, StartRunRecordsThePidAndHeartbeatMovesOn) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 2));
  store.start_run(run_id, 4242);
  const RunRecord started = store.run(run_id);
  EXPECT_EQ(started.pid, 4242);
  EXPECT_FALSE(started.heartbeat_at.empty());
  store.query("SELECT 1");  // (time passes)
  ::usleep(5000);
  store.heartbeat(run_id);
  EXPECT_GT(store.run(run_id).heartbeat_at, started.heartbeat_at);
  EXPECT_TRUE(contains(store_error_of([&] { store.heartbeat(999); }), "no run 999"));
}

TEST(RunStoreLifecycleTest, ReapDeadRunsFindsAVanishedProcessOnThisHost) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3)});
  const pid_t gone = ::fork();
  if (gone == 0) ::_exit(0);
  ::waitpid(gone, nullptr, 0);
  store.claim_run(sweep_id, "thishost:1");
  store.start_run(run_ids[0], gone);
  store.claim_run(sweep_id, "thishost:1");
  store.start_run(run_ids[1], ::getpid());  // alive
  store.claim_run(sweep_id, "otherhost:1");
  store.start_run(run_ids[2], gone);  // another host: its pids mean nothing here

  EXPECT_EQ(store.reap_dead_runs(sweep_id, "thishost", 3600), std::vector<std::int64_t>{run_ids[0]});
  const RunRecord reaped = store.run(run_ids[0]);
  EXPECT_EQ(reaped.status, RunStatus::interrupted);
  EXPECT_TRUE(contains(reaped.error, std::to_string(gone)));
  EXPECT_EQ(store.run(run_ids[1]).status, RunStatus::running);
  EXPECT_EQ(store.run(run_ids[2]).status, RunStatus::running);
}

TEST(RunStoreLifecycleTest, ReapDeadRunsFindsAStaleHeartbeat) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1)});
  store.claim_run(sweep_id, "otherhost:1");
  store.start_run(run_ids[0], 1);
  EXPECT_TRUE(store.reap_dead_runs(sweep_id, "thishost", 3600).empty());
  EXPECT_EQ(store.reap_dead_runs(sweep_id, "thishost", -1), run_ids);
  EXPECT_TRUE(contains(store.run(run_ids[0]).error, "no heartbeat"));
}

TEST(RunStoreLifecycleTest, ReapDeadRunsSparesALiveProcessOnThisHostWhateverItsHeartbeat) {
  // A stopped (Ctrl-Z) run misses heartbeats but is alive: reaping it would run it twice.
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1)});
  store.claim_run(sweep_id, "thishost:1");
  store.start_run(run_ids[0], ::getpid());
  EXPECT_TRUE(store.reap_dead_runs(sweep_id, "thishost", -1).empty());
  EXPECT_EQ(store.run(run_ids[0]).status, RunStatus::running);
}

TEST(RunStoreLifecycleTest, RequeuePutsFailedDivergedAndInterruptedRunsBackPendingKeepingTheirCurves) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] =
      store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2), make_run(2, 3), make_run(3, 4)});
  store.claim_run(sweep_id, "h:1");
  store.record_epoch_metrics(run_ids[0], 1, {{"train_loss", 1.0}});
  store.fail_run(run_ids[0], "crash");
  store.fail_run(run_ids[1], "nan", RunStatus::diverged);
  store.fail_run(run_ids[2], "killed", RunStatus::interrupted);
  store.finish_run(run_ids[3], {{"clean_acc", 0.5}});

  EXPECT_EQ(store.requeue(sweep_id), (std::vector<std::int64_t>{run_ids[0], run_ids[1], run_ids[2]}));
  const RunRecord again = store.run(run_ids[0]);
  EXPECT_EQ(again.status, RunStatus::pending);
  EXPECT_TRUE(again.error.empty());
  EXPECT_EQ(again.attempt, 1) << "the attempt count is kept";
  // The curves stay for the new attempt, which continues from the run's checkpoint.
  EXPECT_EQ(store.epoch_metrics(run_ids[0]).size(), 1u);
  EXPECT_EQ(store.run(run_ids[3]).status, RunStatus::finished);
  EXPECT_TRUE(store.requeue(sweep_id).empty());
}

TEST(RunStoreLifecycleTest, RequeueRunTakesOnlyARunThatDidNotFinish) {
  RunStore store(":memory:");
  const std::int64_t failed = store.add_run(make_run(0, 1));
  const std::int64_t finished = store.add_run(make_run(1, 2));
  store.fail_run(failed, "x", RunStatus::interrupted);
  store.finish_run(finished, {});
  EXPECT_TRUE(store.requeue_run(failed));
  EXPECT_EQ(store.run(failed).status, RunStatus::pending);
  EXPECT_FALSE(store.requeue_run(finished));
  EXPECT_FALSE(store.requeue_run(failed)) << "already pending";
  EXPECT_THROW(store.requeue_run(999), StoreError);
}

TEST(RunStoreLifecycleTest, FailRunRecordsDivergedAndRefusesANonFailureStatus) {
  RunStore store(":memory:");
  const std::int64_t run_id = store.add_run(make_run(0, 1));
  store.fail_run(run_id, "loss is nan", RunStatus::diverged);
  EXPECT_EQ(store.run(run_id).status, RunStatus::diverged);
  EXPECT_THROW(store.fail_run(run_id, "x", RunStatus::finished), StoreError);
}

TEST(RunStoreLifecycleTest, FinishedRunWithHashFindsOnlyFinishedRuns) {
  RunStore store(":memory:");
  const std::int64_t pending = store.add_run(make_run(0, 2));
  EXPECT_EQ(store.finished_run_with_hash("hash2"), std::nullopt);
  const std::int64_t done = store.add_run(make_run(1, 2));
  store.finish_run(done, {});
  EXPECT_EQ(store.finished_run_with_hash("hash2"), done);
  EXPECT_NE(store.finished_run_with_hash("hash2"), pending);
  EXPECT_EQ(store.finished_run_with_hash("nope"), std::nullopt);
}

TEST(RunStoreLifecycleTest, OutputDirArtifactsAndProvenanceReadBack) {
  RunStore store(":memory:");
  NewRun new_run = make_run(0, 2);
  new_run.output_dir = "/tmp/runs/1";
  const std::int64_t run_id = store.add_run(new_run);
  EXPECT_EQ(store.run(run_id).output_dir, "/tmp/runs/1");
  store.set_output_dir(run_id, "/tmp/runs/one");
  EXPECT_EQ(store.run(run_id).output_dir, "/tmp/runs/one");
  store.record_artifact(run_id, "checkpoint", "/tmp/runs/one/model.pt", "ab12");
  store.record_artifact(run_id, "checkpoint", "/tmp/runs/one/model.pt", "cd34");  // rewritten file
  store.record_artifact(run_id, "log", "/tmp/runs/one/log.txt", "ef56");
  const std::vector<ArtifactRecord> artifacts = store.artifacts(run_id);
  ASSERT_EQ(artifacts.size(), 2u);
  EXPECT_EQ(artifacts[0].kind, "checkpoint");
  EXPECT_EQ(artifacts[0].sha256, "cd34");
  EXPECT_EQ(artifacts[1].path, "/tmp/runs/one/log.txt");
  store.record_provenance(run_id, {{"revision", "abc"}, {"dirty", "true"}, {"plugin:topk:sha256", "00ff"}});
  const std::vector<std::pair<std::string, std::string>> expected{
      {"dirty", "true"}, {"plugin:topk:sha256", "00ff"}, {"revision", "abc"}};
  EXPECT_EQ(store.provenance(run_id), expected);
  EXPECT_THROW(store.record_artifact(999, "log", "x", "y"), StoreError);
  EXPECT_THROW(store.set_output_dir(999, "x"), StoreError);
}

TEST(RunStoreLifecycleTest, SweepReadsBackAndLatestSweepIsTheNewest) {
  RunStore store(":memory:");
  EXPECT_EQ(store.latest_sweep_id(), std::nullopt);
  const std::int64_t first = store.add_sweep(make_sweep(), {make_run(0, 1)}).first;
  const std::int64_t second = store.add_sweep(NewSweep{"b", "e.toml", "x=1,2"}, {make_run(0, 1)}).first;
  EXPECT_EQ(store.latest_sweep_id(), second);
  const SweepRecord sweep = store.sweep(first);
  EXPECT_EQ(sweep.name, "k-sweep");
  EXPECT_EQ(sweep.spec, "model.k=1,2,3");
  EXPECT_EQ(sweep.status, "running");
  EXPECT_EQ(store.sweeps().size(), 2u);
  EXPECT_THROW(store.sweep(99), StoreError);
}

// ---- queries for armor db ------------------------------------------------------------------------

// Six runs: model.k in {1, 2, 3} x trainer.beta in {1.0, 6.0}; clean_acc = k / 10 + beta / 100.
class RunStoreQueryTest : public ::testing::Test {
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
    ids_ = store_.add_sweep(make_sweep(), runs).second;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      const double k = static_cast<double>(i / 2 + 1);
      const double beta = i % 2 == 0 ? 1.0 : 6.0;
      if (i == 5) {
        store_.fail_run(ids_[i], "boom");
      } else {
        store_.finish_run(ids_[i], {{"clean_acc", k / 10 + beta / 100}});
      }
    }
  }

  std::vector<std::int64_t> ids_of(const RunFilter& filter) const {
    std::vector<std::int64_t> ids;
    for (const RunSummary& run : store_.find_runs(filter)) ids.push_back(run.run.id);
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

TEST_F(RunStoreQueryTest, WhereCombinesTypedComparisonsWithBooleanLogic) {
  EXPECT_EQ(where("trainer.beta >= 3 and (model.k = 1 or model.k = 2)"), (std::vector<std::int64_t>{ids_[1], ids_[3]}));
  EXPECT_EQ(where("not model.k in (1, 3)"), (std::vector<std::int64_t>{ids_[2], ids_[3]}));
  EXPECT_EQ(where("model.k between 2 and 3 and trainer.beta < 2"), (std::vector<std::int64_t>{ids_[2], ids_[4]}));
  EXPECT_EQ(where("clean_acc is null"), std::vector<std::int64_t>{ids_[5]});
  EXPECT_EQ(where("clean_acc > 0.3"), std::vector<std::int64_t>{ids_[4]});
  EXPECT_EQ(where("status = 'failed' or id = " + std::to_string(ids_[0])), (std::vector<std::int64_t>{ids_[0], ids_[5]}));
  EXPECT_EQ(where("model.name = \"moe\" and train.augment = true and model.k != 2").size(), 4u);
  EXPECT_TRUE(where("model.k > 10").empty()) << "numbers compare as numbers, not text";
}

TEST_F(RunStoreQueryTest, WhereBindsValuesSoQuotesCannotInjectSql) {
  EXPECT_TRUE(where("model.name = 'x'' OR 1=1 --'").empty());
  EXPECT_EQ(store_.runs().size(), 6u);
}

TEST_F(RunStoreQueryTest, WhereRefusesUnknownNamesWithASuggestion) {
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

TEST_F(RunStoreQueryTest, FindRunsFiltersSortsAndCarriesParamsAndMetrics) {
  RunFilter filter;
  filter.statuses = {RunStatus::finished};
  filter.order_by = "clean_acc";
  filter.descending = true;
  const std::vector<RunSummary> runs = store_.find_runs(filter);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(runs[0].run.id, ids_[4]);
  EXPECT_DOUBLE_EQ(runs[0].metrics.at("clean_acc"), 0.31);
  EXPECT_EQ(runs[0].params.size(), 5u);
  EXPECT_EQ(runs[0].params.back().first, "trainer.beta");
  EXPECT_EQ(runs.back().run.id, ids_[0]);

  filter = RunFilter{};
  filter.order_by = "clean_acc";
  EXPECT_EQ(store_.find_runs(filter).back().run.id, ids_[5]) << "runs without the value come last";
  filter = RunFilter{};
  filter.run_ids = {ids_[2], ids_[0]};
  EXPECT_EQ(ids_of(filter), (std::vector<std::int64_t>{ids_[0], ids_[2]}));
  filter.sweep_id = 99;
  EXPECT_TRUE(ids_of(filter).empty());
}

TEST_F(RunStoreQueryTest, ResultsViewHasOneRowPerRunWithParamsAndMetricsAsColumns) {
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM results"), "6");
  EXPECT_EQ(scalar(store_, R"(SELECT group_concat(run_id, ' ') FROM results WHERE "trainer.beta" > 3 AND "model.k" <= 2)"),
            std::to_string(ids_[1]) + " " + std::to_string(ids_[3]));
  EXPECT_EQ(scalar(store_, R"(SELECT clean_acc FROM results WHERE "model.k" = 3 AND "trainer.beta" = 1)"), "0.31");
}

TEST_F(RunStoreQueryTest, RemoveRunsDeletesEverythingAboutThemAndReturnsTheirFolders) {
  store_.set_output_dir(ids_[0], "/tmp/a");
  store_.record_provenance(ids_[0], {{"host", "x"}});
  EXPECT_EQ(store_.remove_runs({ids_[0], ids_[1]}), std::vector<std::string>{"/tmp/a"});
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "4");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM params WHERE run_id IN (1, 2)"), "0");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM provenance"), "0");
  EXPECT_THROW(store_.remove_runs({ids_[2], 999}), StoreError);
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "4") << "all or nothing";
  const std::int64_t sweep_id = *store_.runs().front().sweep_id;
  store_.remove_sweep(sweep_id);
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM runs"), "0");
  EXPECT_EQ(scalar(store_, "SELECT count(*) FROM sweeps"), "0");
}

TEST_F(RunStoreQueryTest, KnownNamesListFieldsParamsAndMetrics) {
  const std::vector<std::string> names = store_.known_names();
  for (const char* name : {"id", "status", "model.k", "trainer.beta", "clean_acc"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), name), names.end()) << name;
  }
}

// ---- small conversions -------------------------------------------------------------------------

TEST(RunStatusTest, StatusRoundTripsThroughText) {
  for (const RunStatus status : {RunStatus::pending, RunStatus::running, RunStatus::finished, RunStatus::failed,
                                 RunStatus::diverged, RunStatus::interrupted}) {
    EXPECT_EQ(run_status_from_string(to_string(status)), status);
  }
  EXPECT_STREQ(to_string(RunStatus::interrupted), "interrupted");
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

namespace armor {
namespace {

// A run executed elsewhere writes into its shard; merging brings everything back, exactly once.
TEST(RunStoreShardTest, MergeBringsBackWhatTheShardRecordedAndIsIdempotent) {
  const auto folder = std::filesystem::temp_directory_path() / ("armor_shard_" + std::to_string(getpid()));
  std::filesystem::create_directories(folder);
  const std::string shard_path = (folder / "shard.db").string();
  RunStore store((folder / "runs.db").string());
  const auto [sweep_id, run_ids] = store.add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  const std::int64_t run_id = run_ids[1];
  store.record_epoch_metrics(run_id, 0, {{"train_loss", 2.0}});  // an earlier attempt's curve
  ASSERT_EQ(store.claim_run(sweep_id, "submitter", run_id), run_id);
  ASSERT_TRUE(store.assign_worker(run_id, "slurm:7_1"));
  store.export_run_shard(run_id, shard_path);
  {
    RunStore shard(shard_path, RunStore::Mode::shard);
    EXPECT_EQ(shard.run(run_id).status, RunStatus::running);
    EXPECT_EQ(shard.sweep(sweep_id).spec, "model.k=1,2,3");
    EXPECT_EQ(shard.params(run_id).size(), 4u);
    shard.start_run(run_id, 4242);
    shard.record_epoch_metrics(run_id, 1, {{"train_loss", 1.5}, {"train_acc", 0.5}});
    shard.record_expert_metrics(run_id, "moe", 0, {{"usage", 0.25}});
    shard.record_provenance(run_id, {{"host", "node7"}});
    shard.finish_run(run_id, {{"clean_acc", 0.75}});
  }
  // Twice: the second merge finds the same and changes nothing.
  for (int merge = 0; merge < 2; ++merge) {
    ASSERT_EQ(store.merge_shard(shard_path, run_id), RunStatus::finished);
    const RunRecord run = store.run(run_id);
    EXPECT_EQ(run.status, RunStatus::finished);
    EXPECT_EQ(run.pid, 4242);
    EXPECT_EQ(run.worker, "slurm:7_1");
    EXPECT_EQ(store.metrics(run_id).at("clean_acc"), 0.75);
    EXPECT_EQ(store.epoch_metrics(run_id).size(), 3u);  // epoch 0 from before, epoch 1 from the shard
    EXPECT_EQ(store.expert_metrics(run_id).size(), 1u);
    EXPECT_EQ(scalar(store, "SELECT count(*) FROM provenance WHERE run_id = " + std::to_string(run_id)), "1");
    EXPECT_EQ(scalar(store, "SELECT clean_acc FROM results WHERE run_id = " + std::to_string(run_id)), "0.75");
    EXPECT_EQ(scalar(store, "SELECT train_acc FROM curves WHERE epoch = 1"), "0.5");
  }
  EXPECT_EQ(store.run(run_ids[0]).status, RunStatus::pending);  // the other run is untouched

  // A shard of an earlier attempt is never merged over a newer one.
  store.export_run_shard(run_ids[0], shard_path);
  ASSERT_EQ(store.claim_run(sweep_id, "submitter", run_ids[0]), run_ids[0]);  // attempt now differs
  EXPECT_EQ(store.merge_shard(shard_path, run_ids[0]), std::nullopt);
  EXPECT_EQ(store.run(run_ids[0]).status, RunStatus::running);
  std::filesystem::remove_all(folder);
}

TEST(RunStoreShardTest, ShardModeNeverCreatesOrMigrates) {
  const auto folder = std::filesystem::temp_directory_path() / ("armor_shard_mode_" + std::to_string(getpid()));
  std::filesystem::create_directories(folder);
  EXPECT_TRUE(contains(store_error_of([&] { RunStore((folder / "missing.db").string(), RunStore::Mode::shard); }),
                       "missing.db"));
  EXPECT_FALSE(std::filesystem::exists(folder / "missing.db"));
  {
    SQLite::Database old((folder / "old.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    old.exec("PRAGMA user_version = 1");
  }
  EXPECT_TRUE(contains(store_error_of([&] { RunStore((folder / "old.db").string(), RunStore::Mode::shard); }),
                       "schema version 1"));
  std::filesystem::remove_all(folder);
}

}  // namespace
}  // namespace armor
