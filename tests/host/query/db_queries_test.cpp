// What the `armor db` subcommands compute, called directly on a database made with the store API.

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "../host_test_support.h"
#include "armor/error.h"
#include "armor/query/best_query.h"
#include "armor/query/compare_query.h"
#include "armor/query/list_query.h"
#include "armor/query/pivot.h"
#include "armor/query/pivot_query.h"
#include "armor/query/run_lookup.h"
#include "armor/query/run_values.h"
#include "armor/query/show_query.h"
#include "armor/query/sql_query.h"

namespace armor::app {
namespace {

using armor::testing::clean_acc_of;
using armor::testing::contains;

class DbQueriesTest : public armor::testing::SweepStoreTest {};

using armor::testing::usage_error_of;

std::size_t column_of(const ResultTable& table, const std::string& name) {
  const auto found = std::find(table.columns.begin(), table.columns.end(), name);
  EXPECT_NE(found, table.columns.end()) << "no column " << name;
  return static_cast<std::size_t>(found - table.columns.begin());
}

TEST(StatsTest, MeanAndSampleStandardDeviationOfTheFiniteValues) {
  const Stats stats = stats_of({1.0, 3.0, std::nan("")});
  EXPECT_EQ(stats.count, 2);
  EXPECT_DOUBLE_EQ(stats.mean, 2.0);
  EXPECT_DOUBLE_EQ(stats.std, std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(stats_of({5.0}).std, 0.0) << "one value has no spread";
}

TEST(SplitListTest, CommasAndRepeatsAlikeWithSpacesTrimmed) {
  EXPECT_EQ(split_list({"a, b", " c ", "", "d,,e"}), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST_F(DbQueriesTest, PivotAveragesTheSeedsOfEachCellWithTheirConfidenceInterval) {
  PivotQuery query;
  query.rows = {"model.num_experts"};
  query.cols = {"model.k"};
  query.metrics = {"clean_acc"};
  query.split_stats = true;
  const ResultTable table = pivot_runs(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"model.num_experts \\ model.k", "1", "1 sd", "1 n", "1 ci_low",
                                                     "1 ci_high", "2", "2 sd", "2 n", "2 ci_low", "2 ci_high"}));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(std::get<std::int64_t>(table.rows[0][0]), 2);
  const double mean = (clean_acc_of(2, 1, 0) + clean_acc_of(2, 1, 1)) / 2;
  EXPECT_NEAR(std::get<double>(table.rows[0][1]), mean, 1e-12);
  // Two seeds 0.001 apart: sd = 0.001 / sqrt(2); the interval is mean ± t(0.975, 1) * sd / sqrt(2),
  // t(0.975, 1) = 12.706204736174707 (scipy.stats.t.ppf), so ± 12.706204736174707 * 0.0005.
  EXPECT_NEAR(std::get<double>(table.rows[0][2]), std::sqrt(0.0000005), 1e-12);
  EXPECT_EQ(std::get<std::int64_t>(table.rows[0][3]), 2);
  EXPECT_NEAR(std::get<double>(table.rows[0][4]), mean - 12.706204736174707 * 0.0005, 1e-10);
  EXPECT_NEAR(std::get<double>(table.rows[0][5]), mean + 12.706204736174707 * 0.0005, 1e-10);
  EXPECT_NEAR(std::get<double>(table.rows[1][6]), (clean_acc_of(4, 2, 0) + clean_acc_of(4, 2, 1)) / 2, 1e-12);
}

TEST_F(DbQueriesTest, PivotCellsReadAsMeanPlusMinusIntervalForPeople) {
  PivotQuery query;
  query.rows = {"model.k", "model.num_experts"};
  query.metrics = {"clean_acc", "pgd_acc"};
  const ResultTable table = pivot_runs(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"model.k", "model.num_experts", "clean_acc", "pgd_acc"}));
  ASSERT_EQ(table.rows.size(), 4u);
  EXPECT_EQ(std::get<std::string>(table.rows[0][2]),
            fmt::format("{:.4f} ± {:.4f} (n=2)", (clean_acc_of(2, 1, 0) + clean_acc_of(2, 1, 1)) / 2,
                        12.706204736174707 * 0.0005));
  EXPECT_TRUE(contains(table.note, "95 % confidence interval"));
}

TEST_F(DbQueriesTest, PivotRefusesACellThatWouldAverageOverAnotherSweptParam) {
  PivotQuery query;
  query.rows = {"model.k"};
  query.metrics = {"clean_acc"};
  const std::string message = usage_error_of([&] { pivot_runs(store_->reader(), query); });
  EXPECT_TRUE(contains(message, "model.num_experts (2, 4) varies inside the cells")) << message;
  EXPECT_TRUE(contains(message, "--rows model.k,model.num_experts")) << message;
  EXPECT_TRUE(contains(message, "--where 'model.num_experts = ...'")) << message;
  query.filter.where = "model.num_experts = 4";
  EXPECT_EQ(pivot_runs(store_->reader(), query).rows.size(), 2u) << "fixed by --where, it is fine";
}

TEST_F(DbQueriesTest, PivotGivesOneColumnPerMetricAndColumnValue) {
  PivotQuery query;
  query.rows = {"model.k"};
  query.cols = {"model.num_experts"};
  query.metrics = {"clean_acc", "pgd_acc"};
  const ResultTable table = pivot_runs(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"model.k \\ model.num_experts", "clean_acc @ 2", "clean_acc @ 4",
                                                     "pgd_acc @ 2", "pgd_acc @ 4"}));
}

TEST_F(DbQueriesTest, PivotNamesAnUnknownParamWithASuggestion) {
  PivotQuery query;
  query.rows = {"model.kk"};
  query.metrics = {"clean_acc"};
  const std::string message = usage_error_of([&] { pivot_runs(store_->reader(), query); });
  EXPECT_TRUE(contains(message, "--rows"));
  EXPECT_TRUE(contains(message, "did you mean 'model.k'"));
}

TEST_F(DbQueriesTest, BestFindsTheTopRunPerValueOfAParam) {
  BestQuery query;
  query.metric = "clean_acc";
  query.by = "model.k";
  const ResultTable table = best_runs(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"model.k", "run", "clean_acc", "overrides"}));
  ASSERT_EQ(table.rows.size(), 2u);
  // The best of k=1 is 4 experts, seed 1: the sixth run (index 5).
  EXPECT_EQ(std::get<std::int64_t>(table.rows[0][1]), ids_[5]);
  EXPECT_EQ(std::get<std::int64_t>(table.rows[1][1]), ids_[7]);
  query.by.clear();
  query.lowest = true;
  const ResultTable lowest = best_runs(store_->reader(), query);
  ASSERT_EQ(lowest.rows.size(), 1u);
  EXPECT_EQ(std::get<std::int64_t>(lowest.rows[0][0]), ids_[0]);
}

TEST_F(DbQueriesTest, CompareShowsOnlyTheParamsThatDifferUnlessAskedForAll) {
  CompareQuery query;
  query.run_ids = {ids_[1], ids_[0]};
  const ResultTable table = compare_runs(store_->reader(), query);
  EXPECT_EQ(table.columns,
            (std::vector<std::string>{"", "key", "run " + std::to_string(ids_[1]), "run " + std::to_string(ids_[0])}));
  std::vector<std::string> keys;
  for (const auto& row : table.rows) keys.push_back(std::get<std::string>(row[1]));
  EXPECT_EQ(keys, (std::vector<std::string>{"status", "seed", "clean_acc", "pgd_acc"}));
  query.all_params = true;
  EXPECT_EQ(compare_runs(store_->reader(), query).rows.size(), 7u) << "status, four params, two metrics";
  query.run_ids = {ids_[0], 999};
  EXPECT_TRUE(contains(usage_error_of([&] { compare_runs(store_->reader(), query); }), "has no run 999"));
}

TEST_F(DbQueriesTest, ListShowsEveryMetricByDefaultAndRefusesUnknownColumns) {
  ListQuery query;
  query.filter.where = "model.k = 2 and model.num_experts = 4";
  const ResultTable table = list_runs(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"id", "sweep", "status", "overrides", "clean_acc", "pgd_acc"}));
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(std::get<std::string>(table.rows[0][2]), "finished");
  query.columns = {"id", "no_such_column"};
  EXPECT_TRUE(contains(usage_error_of([&] { list_runs(store_->reader(), query); }), "unknown column 'no_such_column'"));
  query.columns = {"id"};
  query.limit = 3;
  query.filter = RunFilter{};
  EXPECT_EQ(list_runs(store_->reader(), query).rows.size(), 3u);
}

TEST_F(DbQueriesTest, ExportHasRunFieldsThenParamsInConfigOrderThenMetrics) {
  const ResultTable table = export_runs(store_->reader(), RunFilter{});
  EXPECT_EQ(table.rows.size(), 8u);
  EXPECT_LT(column_of(table, "output_dir"), column_of(table, "model.num_experts"));
  EXPECT_LT(column_of(table, "model.num_experts"), column_of(table, "model.k"));
  EXPECT_LT(column_of(table, "trainer.lr"), column_of(table, "clean_acc"));
}

TEST_F(DbQueriesTest, ShowGivesTheRunItsMetricsCurvesAndParams) {
  const RunDetails details = show_run(store_->reader(), ids_[2]);
  std::vector<std::string> titles;
  for (const Section& section : details.sections) titles.push_back(section.first);
  EXPECT_EQ(titles, (std::vector<std::string>{"run " + std::to_string(ids_[2]), "metrics", "curves", "params"}));
  const ResultTable& curves = details.sections[2].second;
  ASSERT_EQ(curves.rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(curves.rows[0][0]), "train_loss");
  EXPECT_DOUBLE_EQ(std::get<double>(curves.rows[0][column_of(curves, "min")]), 1.0);
  EXPECT_TRUE(contains(details.config, "k = 2"));
  EXPECT_TRUE(contains(usage_error_of([&] { show_run(store_->reader(), 999); }), "has no run 999"));
}

TEST_F(DbQueriesTest, AFlaggedRobustMetricIsMarkedInListCompareAndPivotAndShowListsTheChecks) {
  store_->records().record_eval_checks(ids_[0], {{"", "zero_gradients", 1.0, true, "every gradient is 0"},
                                                 {"", "randomness", 0.0, false, "deterministic"}});
  const std::set<std::pair<std::size_t, std::size_t>> none;
  ListQuery list;
  list.filter.where = "model.k = 1 and model.num_experts = 2";
  const ResultTable listed = list_runs(store_->reader(), list);
  ASSERT_EQ(listed.rows.size(), 2u);
  const std::size_t row = std::get<std::int64_t>(listed.rows[0][0]) == ids_[0] ? 0 : 1;
  EXPECT_EQ(listed.marked, (std::set<std::pair<std::size_t, std::size_t>>{{row, column_of(listed, "pgd_acc")}}))
      << "a model-wide flag marks every robust metric, never clean_acc";
  EXPECT_TRUE(contains(listed.legend, "armor db show RUN"));

  CompareQuery compare;
  compare.run_ids = {ids_[1], ids_[0]};
  const ResultTable compared = compare_runs(store_->reader(), compare);
  ASSERT_EQ(compared.marked.size(), 1u);
  const auto [compare_row, compare_column] = *compared.marked.begin();
  EXPECT_EQ(std::get<std::string>(compared.rows[compare_row][1]), "pgd_acc");
  EXPECT_EQ(compare_column, 3u) << "the column of run " << ids_[0];

  PivotQuery pivot;
  pivot.rows = {"model.num_experts"};
  pivot.cols = {"model.k"};
  pivot.metrics = {"pgd_acc"};
  const ResultTable pivoted = pivot_runs(store_->reader(), pivot);
  EXPECT_EQ(pivoted.marked, (std::set<std::pair<std::size_t, std::size_t>>{{0, 1}})) << "num_experts 2, k 1";
  pivot.metrics = {"clean_acc"};
  EXPECT_EQ(pivot_runs(store_->reader(), pivot).marked, none);

  const RunDetails details = show_run(store_->reader(), ids_[0]);
  const auto checks = std::find_if(details.sections.begin(), details.sections.end(),
                                   [](const Section& section) { return section.first == "checks"; });
  ASSERT_NE(checks, details.sections.end());
  ASSERT_EQ(checks->second.rows.size(), 2u);
  EXPECT_EQ(std::get<std::string>(checks->second.rows[1][0]), "zero_gradients");
  EXPECT_EQ(std::get<std::string>(checks->second.rows[1][3]), "FLAGGED");
  EXPECT_EQ(std::get<std::string>(checks->second.rows[1][4]), "every gradient is 0");
  EXPECT_EQ(show_run(store_->reader(), ids_[1]).sections.size(), details.sections.size() - 1) << "no checks section";
}

TEST_F(DbQueriesTest, SqlCellsKeepSqliteTypes) {
  const ResultTable table = sql_query(store_->reader(), "SELECT 1 AS one, 0.5 AS half, 'x' AS text, NULL AS missing");
  ASSERT_EQ(table.rows.size(), 1u);
  EXPECT_EQ(std::get<std::int64_t>(table.rows[0][0]), 1);
  EXPECT_DOUBLE_EQ(std::get<double>(table.rows[0][1]), 0.5);
  EXPECT_EQ(std::get<std::string>(table.rows[0][2]), "x");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(table.rows[0][3]));
  EXPECT_THROW(sql_query(store_->reader(), "DELETE FROM runs"), StoreError);
}

TEST_F(DbQueriesTest, TheLatestSweepUnlessOneIsGiven) {
  EXPECT_EQ(sweep_or_latest(store_->reader(), std::nullopt), sweep_);
  EXPECT_THROW(sweep_or_latest(store_->reader(), 42), StoreError);
  RunStore empty(":memory:");
  EXPECT_TRUE(contains(usage_error_of([&] { sweep_or_latest(empty.reader(), std::nullopt); }), "has no sweep yet"));
}

TEST(OpenStoreTest, AMissingDatabaseIsAUsageErrorNamingIt) {
  EXPECT_TRUE(contains(usage_error_of([] { open_store("/no/such/runs.db"); }), "'/no/such/runs.db'"));
}

}  // namespace
}  // namespace armor::app
