// StoreSchema through RunStore and ResultsReader: creating, versioning, migrating and refusing
// databases, the modes of opening one, and identities (uids, ids never reused).

#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"
#include "store_test_support.h"

namespace armor {
namespace {

using namespace store_test;

// ---- opening ---------------------------------------------------------------------------------

TEST(StoreSchemaTest, MigrationSetsUserVersionToSchemaVersion) {
  RunStore store(":memory:");
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(scalar(store,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                   "('sweeps', 'runs', 'params', 'metrics', 'epoch_metrics', 'expert_metrics', "
                   "'artifacts', 'provenance')"),
            "8");
  EXPECT_EQ(scalar(store,
                   "SELECT count(*) FROM sqlite_master WHERE type = 'view' AND name IN "
                   "('results', 'curves', 'experts')"),
            "3");
}

TEST(StoreSchemaTest, ReopeningAMigratedFileKeepsItsRuns) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  std::int64_t run_id = 0;
  {
    RunStore store(path);
    run_id = store.queue().add_run(make_run(0, 2));
  }
  RunStore reopened(path);
  EXPECT_EQ(reopened.reader().run(run_id).config_hash, "hash2");
  EXPECT_EQ(scalar(reopened, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
}

TEST(StoreSchemaTest, RefusesDatabaseFromNewerSchema) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  { RunStore store(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = 7");
  }
  for (const std::string& message : {store_error_of([&] { RunStore store(path); }), store_error_of([&] {
                                       ResultsReader reader(path, ResultsReader::Mode::read_only);
                                     }),
                                     store_error_of([&] { ResultsReader reader(path, ResultsReader::Mode::query); })}) {
    EXPECT_TRUE(contains(message, path));
    EXPECT_TRUE(contains(message, "schema version 7"));
    EXPECT_TRUE(contains(message, "supports up to " + std::to_string(RunStore::kSchemaVersion)));
  }
  SQLite::Database raw(path, SQLite::OPEN_READONLY);
  EXPECT_EQ(raw.execAndGet("PRAGMA user_version").getInt(), 7) << "a refused database must stay untouched";
}

TEST(StoreSchemaTest, ReadOnlyOpenOfMissingFileNamesThePath) {
  TempDir dir;
  const std::string path = dir.file("missing.db");
  for (const ResultsReader::Mode mode : {ResultsReader::Mode::read_only, ResultsReader::Mode::query}) {
    const std::string message = store_error_of([&] { ResultsReader reader(path, mode); });
    EXPECT_TRUE(contains(message, path));
    EXPECT_FALSE(std::filesystem::exists(path)) << "a read-only open must not create the file";
  }
}

TEST(StoreSchemaTest, ReadOnlyOpenRefusesAFileThatIsNoArmorDatabase) {
  TempDir dir;
  const std::string path = dir.file("other.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec("CREATE TABLE t (x)");
  }
  const std::string message = store_error_of([&] { ResultsReader reader(path, ResultsReader::Mode::read_only); });
  EXPECT_TRUE(contains(message, "not an armor results database"));
}

TEST(StoreSchemaTest, FileDatabaseUsesWalAndAReaderSeesWhatTheWriterCommits) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  RunStore writer(path);
  {
    // WAL is a property of the file, so a second connection sees it. (query() refuses
    // PRAGMA journal_mode: SQLite counts it as a statement that may write.)
    SQLite::Database raw(path, SQLite::OPEN_READONLY);
    EXPECT_EQ(raw.execAndGet("PRAGMA journal_mode").getString(), "wal");
  }
  const std::int64_t run_id = writer.queue().add_run(make_run(0, 3));

  const ResultsReader reader(path, ResultsReader::Mode::read_only);
  EXPECT_EQ(reader.run(run_id).status, RunStatus::pending);
  EXPECT_EQ(scalar(reader, "SELECT count(*) FROM runs"), "1");
  writer.queue().start_run(run_id);  // while the reader holds its connection open
  EXPECT_EQ(reader.run(run_id).status, RunStatus::running);
  EXPECT_EQ(scalar(writer, "SELECT count(*) FROM runs"), "1");
}

// ---- migration from version 1 ------------------------------------------------------------------

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

TEST(StoreSchemaMigrationTest, MigratesAVersion1DatabaseKeepingEveryRecord) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  RunStore store(path);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  const RunRecord first = store.reader().run(1);
  EXPECT_EQ(first.status, RunStatus::finished);
  EXPECT_EQ(first.overrides, std::vector<std::string>{"model.k=1"});
  EXPECT_EQ(first.host, "oldhost");
  EXPECT_EQ(first.attempt, 0);
  EXPECT_TRUE(first.output_dir.empty());
  EXPECT_EQ(store.reader().run(2).error, "boom");
  EXPECT_EQ(store.reader().metrics(1).at("clean_acc"), 0.75);
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM params"), "2") << "dropping the old runs table must not cascade";
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM epoch_metrics"), "1");
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM expert_metrics"), "1");
  // The new statuses are accepted, and the views show the old data.
  store.queue().fail_run(store.queue().add_run(make_run(0, 3)), "nan", RunStatus::diverged);
  EXPECT_EQ(scalar(store, R"(SELECT "model.k" || ' ' || clean_acc FROM results WHERE run_id = 1)"), "1 0.75");
  EXPECT_EQ(scalar(store, "SELECT train_loss FROM curves WHERE run_id = 1 AND epoch = 1"), "2.5");
  EXPECT_EQ(scalar(store, "SELECT usage_share FROM experts WHERE run_id = 1"), "1");
}

TEST(StoreSchemaMigrationTest, MigratedRunsAndSweepsGetDistinctUidsAndKeepTheirIds) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  RunStore store(path);
  const RunRecord first = store.reader().run(1);
  const RunRecord second = store.reader().run(2);
  EXPECT_EQ(first.uid.size(), 32u);
  EXPECT_NE(first.uid, second.uid);
  EXPECT_EQ(store.reader().sweep(1).uid.size(), 32u);
  EXPECT_EQ(scalar(store, "SELECT run_uid FROM results WHERE run_id = 2"), second.uid);
  // Deleting the newest migrated run does not free its id.
  store.queue().remove_runs({2});
  EXPECT_EQ(store.queue().add_run(make_run(0, 5)), 3);
}

TEST(StoreSchemaMigrationTest, QueryModeMigratesAnOlderDatabaseThenReadsOnly) {
  TempDir dir;
  const std::string path = dir.file("v1.db");
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    raw.exec(kVersion1Schema);
  }
  EXPECT_THROW(ResultsReader(path, ResultsReader::Mode::read_only), StoreError);
  const ResultsReader reader(path, ResultsReader::Mode::query);
  EXPECT_EQ(scalar(reader, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(reader.runs().size(), 2u);
  // Migrated once: a strictly read-only open takes it now.
  EXPECT_EQ(ResultsReader(path, ResultsReader::Mode::read_only).runs().size(), 2u);
}

TEST(StoreSchemaMigrationTest, MigratesAVersion4DatabaseAddingEvalChecksAndKeepingItsRuns) {
  TempDir dir;
  const std::string path = dir.file("v4.db");
  std::int64_t run_id = 0;
  {
    RunStore store(path);
    run_id = store.queue().add_run(make_run(0, 2));
    store.queue().start_run(run_id);
    store.queue().finish_run(run_id, {{"pgd_acc", 0.5}});
  }
  {  // what a version 4 database looked like: no eval_checks
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DROP TABLE robustness_curves; DROP TABLE eval_checks; PRAGMA user_version = 4;");
  }
  RunStore store(path);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_EQ(store.reader().metrics(run_id).at("pgd_acc"), 0.5);
  EXPECT_TRUE(store.reader().eval_checks(run_id).empty());
  store.records().record_eval_checks(run_id, {{"pgd_acc", "zero_gradients", 1.0, true, "all zero"}});
  EXPECT_EQ(store.reader().flagged_metrics().size(), 1u);
  store.queue().remove_runs({run_id});  // the checks go with their run
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM eval_checks"), "0");
}

TEST(StoreSchemaMigrationTest, MigratesAVersion5DatabaseAddingRobustnessCurves) {
  TempDir dir;
  const std::string path = dir.file("v5.db");
  std::int64_t run_id = 0;
  {
    RunStore store(path);
    run_id = store.queue().add_run(make_run(0, 2));
    store.queue().start_run(run_id);
    store.queue().finish_run(run_id, {{"pgd_acc", 0.5}});
  }
  {  // what a version 5 database looked like: no robustness_curves
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("DROP TABLE robustness_curves; PRAGMA user_version = 5;");
  }
  RunStore store(path);
  EXPECT_EQ(scalar(store, "PRAGMA user_version"), std::to_string(RunStore::kSchemaVersion));
  EXPECT_TRUE(store.reader().robustness_curves(run_id).empty());
  store.records().record_robustness_curve(run_id, {"pgd", 0.2, {{0, 0.0}, {1, 0.05}, {2, std::nullopt}}});
  store.records().record_robustness_curve(run_id, {"pgd", 0.2, {{0, 0.1}, {1, std::nullopt}}});  // replaces
  const std::vector<RobustnessCurve> curves = store.reader().robustness_curves(run_id);
  ASSERT_EQ(curves.size(), 1u);
  EXPECT_EQ(curves[0].max_eps, 0.2);
  ASSERT_EQ(curves[0].images.size(), 2u);
  EXPECT_EQ(curves[0].images[0].min_eps, std::optional<double>(0.1));
  EXPECT_FALSE(curves[0].images[1].min_eps.has_value()) << "NULL: never broken up to max_eps";
  store.queue().remove_runs({run_id});  // the curve goes with its run
  EXPECT_EQ(scalar(store, "SELECT count(*) FROM robustness_curves"), "0");
}

TEST(StoreSchemaMigrationTest, QueryModeRefusesANewerDatabase) {
  TempDir dir;
  const std::string path = dir.file("runs.db");
  { RunStore store(path); }
  {
    SQLite::Database raw(path, SQLite::OPEN_READWRITE);
    raw.exec("PRAGMA user_version = " + std::to_string(RunStore::kSchemaVersion + 1));
  }
  EXPECT_TRUE(contains(store_error_of([&] { ResultsReader reader(path); }),
                       "schema version " + std::to_string(RunStore::kSchemaVersion + 1)));
}

// ---- identities: uids and ids that are never reused --------------------------------------------

TEST(StoreIdentityTest, EveryRunAndSweepHasAUidNoOtherDatabaseShares) {
  RunStore first(":memory:");
  RunStore second(":memory:");
  const auto [sweep_a, runs_a] = first.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  const auto [sweep_b, runs_b] = second.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  ASSERT_EQ(sweep_a, sweep_b) << "ids restart in every database; uids must not";
  EXPECT_NE(first.reader().sweep(sweep_a).uid, second.reader().sweep(sweep_b).uid);
  for (std::size_t i = 0; i < runs_a.size(); ++i) {
    const std::string uid = first.reader().run(runs_a[i]).uid;
    EXPECT_EQ(uid.size(), 32u);
    EXPECT_EQ(uid.find_first_not_of("0123456789abcdef"), std::string::npos) << uid;
    EXPECT_NE(uid, second.reader().run(runs_b[i]).uid);
  }
  EXPECT_NE(first.reader().run(runs_a[0]).uid, first.reader().run(runs_a[1]).uid);
}

TEST(StoreIdentityTest, IdsOfDeletedRunsAndSweepsAreNeverReused) {
  RunStore store(":memory:");
  const auto [sweep_id, run_ids] = store.queue().add_sweep(make_sweep(), {make_run(0, 1), make_run(1, 2)});
  store.queue().remove_sweep(sweep_id);
  const auto [next_sweep, next_runs] = store.queue().add_sweep(make_sweep(), {make_run(0, 1)});
  EXPECT_GT(next_sweep, sweep_id);
  EXPECT_GT(next_runs[0], run_ids[1]);
  const std::int64_t single = store.queue().add_run(make_run(0, 3));
  store.queue().remove_runs({single});
  EXPECT_GT(store.queue().add_run(make_run(0, 4)), single);
}

TEST(StoreSchemaTest, ShardModeNeverCreatesOrMigrates) {
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
