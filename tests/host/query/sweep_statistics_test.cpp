// armor db effects, compare --a/--b, pivot and pareto on the 2 × 2 × 2 × 3-seed grid of
// tests/fixtures/statistics, against statsmodels' ANOVA, scipy's ttest_rel and wilcoxon and a
// brute-force Pareto front computed on the same numbers (generate.py).

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "armor/error.h"
#include "armor/query/effects_query.h"
#include "armor/query/pareto_query.h"
#include "armor/query/pivot_query.h"
#include "armor/query/settings_compare.h"
#include "armor/report/sweep_report.h"
#include "grid_sweep_support.h"
#include "host_test_support.h"

namespace armor::app {
namespace {
using armor::testing::near_relative;
using armor::testing::number;
using armor::testing::statistics_fixture;

class SweepStatisticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<RunStore>(":memory:");
    ids_ = armor::testing::record_grid_sweep(*store_);
  }

  static std::size_t column(const ResultTable& table, const std::string& name) {
    const auto found = std::find(table.columns.begin(), table.columns.end(), name);
    EXPECT_NE(found, table.columns.end()) << name;
    return static_cast<std::size_t>(found - table.columns.begin());
  }
  static double number_at(const ResultTable& table, std::size_t row, const std::string& name) {
    const Cell& cell = table.rows[row].at(column(table, name));
    if (const auto* value = std::get_if<double>(&cell)) return *value;
    if (const auto* value = std::get_if<std::int64_t>(&cell)) return static_cast<double>(*value);
    return std::nan("");
  }
  static std::string text_at(const ResultTable& table, std::size_t row, const std::string& name) {
    return cell_text(table.rows[row].at(column(table, name)));
  }

  std::unique_ptr<RunStore> store_;
  std::vector<std::int64_t> ids_;
};

using armor::testing::usage_error_of;

TEST_F(SweepStatisticsTest, EffectsEqualStatsmodelsThreeWayAndTwoWayAnova) {
  for (const std::string metric : {"pgd20_acc", "clean_acc"}) {
    for (const std::string model : {"three_way", "two_way"}) {
      EffectsQuery query;
      query.metrics = {metric};
      query.max_order = model == "three_way" ? 0 : 2;
      const ResultTable table = effects_of_sweep(store_->reader(), query);
      std::map<std::string, std::size_t> row_of;
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        std::string source = text_at(table, r, "source");
        if (source == "residual (seeds)") source = "residual";
        // "model.k × trainer.beta" -> statsmodels' order of the fixture's factors: beta, num_experts, k.
        std::vector<std::string> parts;
        for (const std::string name : {"trainer.beta", "model.num_experts", "model.k"}) {
          if (source.find(name) != std::string::npos) parts.push_back(name);
        }
        if (source != "residual") {
          source.clear();
          for (const std::string& part : parts) source += (source.empty() ? "" : " x ") + part;
        }
        row_of[source] = r;
      }
      std::size_t compared = 0;
      for (const auto& expected : statistics_fixture("anova.csv")) {
        if (expected.at("metric") != metric || expected.at("model") != model) continue;
        const std::string what = metric + " " + model + " " + expected.at("source");
        ASSERT_EQ(row_of.count(expected.at("source")), 1U) << what;
        const std::size_t r = row_of[expected.at("source")];
        EXPECT_DOUBLE_EQ(number_at(table, r, "df"), number(expected, "df")) << what;
        EXPECT_TRUE(near_relative(number_at(table, r, "ss"), number(expected, "ss"), 1e-6, 1e-16)) << what;
        EXPECT_TRUE(near_relative(number_at(table, r, "f"), number(expected, "f"), 1e-6)) << what;
        EXPECT_TRUE(near_relative(number_at(table, r, "p"), number(expected, "p"), 1e-6)) << what;
        ++compared;
      }
      EXPECT_EQ(compared, model == "three_way" ? 8U : 7U);
      EXPECT_TRUE(armor::testing::contains(table.note, "exact ANOVA")) << table.note;
    }
  }
}

TEST_F(SweepStatisticsTest, ComparePairsSeedsAndEqualsScipysTtestRelAndWilcoxon) {
  for (const std::string where : {"all", "model.k = 2"}) {
    SettingsCompareQuery query;
    query.a = "trainer.beta = 0";
    query.b = "trainer.beta = 3";
    if (where != "all") query.filter.where = where;
    query.metrics = {"pgd20_acc", "clean_acc"};
    const ResultTable table = compare_settings(store_->reader(), query);
    ASSERT_EQ(table.rows.size(), 2U);
    EXPECT_TRUE(armor::testing::contains(table.note, "they differ in trainer.beta")) << table.note;
    EXPECT_TRUE(armor::testing::contains(table.note, where == "all"
                                                         ? "12 pairs by run.seed, model.num_experts, model.k."
                                                         : "6 pairs by run.seed, model.num_experts."))
        << table.note;
    for (const auto& expected : statistics_fixture("paired.csv")) {
      if (expected.at("where") != where) continue;
      const std::size_t r = expected.at("metric") == "pgd20_acc" ? 0 : 1;
      const std::string what = expected.at("metric") + " " + where;
      EXPECT_DOUBLE_EQ(number_at(table, r, "pairs"), number(expected, "n")) << what;
      EXPECT_TRUE(near_relative(number_at(table, r, "difference"), number(expected, "mean_difference"), 1e-12)) << what;
      EXPECT_TRUE(near_relative(number_at(table, r, "ci_low"), number(expected, "ci_low"), 1e-8)) << what;
      EXPECT_TRUE(near_relative(number_at(table, r, "ci_high"), number(expected, "ci_high"), 1e-8)) << what;
      EXPECT_TRUE(near_relative(number_at(table, r, "t_p"), number(expected, "t_p"), 1e-8)) << what;
      EXPECT_TRUE(near_relative(number_at(table, r, "wilcoxon_p"), number(expected, "wilcoxon_p"), 1e-10)) << what;
      EXPECT_EQ(text_at(table, r, "wilcoxon"), "exact") << what;
    }
  }
}

TEST_F(SweepStatisticsTest, CompareOfTwoSweepsPairsTheirRunsBySeedAndSettings) {
  armor::testing::record_grid_sweep(*store_);  // sweep 2: the same grid again
  SettingsCompareQuery query;
  query.sweep_a = 1;
  query.sweep_b = 2;
  query.a = "trainer.beta = 0";
  query.b = "trainer.beta = 3";
  query.metrics = {"pgd20_acc"};
  const ResultTable table = compare_settings(store_->reader(), query);
  const auto expected = statistics_fixture("paired.csv").front();  // pgd20_acc, all 12 pairs
  ASSERT_EQ(expected.at("metric"), "pgd20_acc");
  EXPECT_DOUBLE_EQ(number_at(table, 0, "pairs"), 12);
  EXPECT_TRUE(near_relative(number_at(table, 0, "t_p"), number(expected, "t_p"), 1e-8));
  EXPECT_TRUE(near_relative(number_at(table, 0, "wilcoxon_p"), number(expected, "wilcoxon_p"), 1e-10));
  // The whole sweeps: every run pairs with its copy, nothing differs.
  query.a.clear();
  query.b.clear();
  const ResultTable same = compare_settings(store_->reader(), query);
  EXPECT_DOUBLE_EQ(number_at(same, 0, "pairs"), 24);
  EXPECT_DOUBLE_EQ(number_at(same, 0, "difference"), 0);
  EXPECT_TRUE(armor::testing::contains(same.note, "they differ in their sweep only")) << same.note;
}

TEST_F(SweepStatisticsTest, CompareSetsASweepBesideTheSameSettingsOutsideSweeps) {
  armor::testing::record_grid_outside_sweeps(*store_, 0.25);  // re-evaluated copies, 0.25 better
  SettingsCompareQuery query;
  query.a = "trainer.beta = 3";
  query.b = "trainer.beta = 3";
  query.sweep_a = 1;
  query.outside_sweeps_b = true;
  query.metrics = {"pgd20_acc"};
  const ResultTable table = compare_settings(store_->reader(), query);
  EXPECT_DOUBLE_EQ(number_at(table, 0, "pairs"), 12);
  EXPECT_NEAR(number_at(table, 0, "difference"), 0.25, 1e-12);
  EXPECT_TRUE(armor::testing::contains(table.note, "B: runs outside sweeps, trainer.beta = 3")) << table.note;
  EXPECT_TRUE(armor::testing::contains(table.note, "they differ in their sweep only")) << table.note;
  // The whole sweep against the runs outside sweeps: every run pairs with its copy.
  query.a.clear();
  query.b.clear();
  EXPECT_DOUBLE_EQ(number_at(compare_settings(store_->reader(), query), 0, "pairs"), 24);
  query.sweep_b = 1;
  EXPECT_TRUE(armor::testing::contains(usage_error_of([&] { compare_settings(store_->reader(), query); }),
                                       "not both"));
  // The latest sweep on both sides stays refused: nothing tells them apart.
  query.outside_sweeps_b = false;
  query.sweep_a.reset();
  query.sweep_b.reset();
  query.a = "trainer.beta = 3";
  query.b = "trainer.beta = 3";
  EXPECT_TRUE(armor::testing::contains(usage_error_of([&] { compare_settings(store_->reader(), query); }),
                                       "nothing tells them apart"));
}

TEST_F(SweepStatisticsTest, CompareRefusesWhatItCannotPair) {
  SettingsCompareQuery query;
  query.metrics = {"pgd20_acc"};
  query.a = "model.k = 1";
  query.b = "model.k = 1";
  EXPECT_TRUE(armor::testing::contains(usage_error_of([&] { compare_settings(store_->reader(), query); }),
                                       "nothing tells them apart"));
  query.a = "trainer.beta = 0 and run.seed = 0";
  query.b = "trainer.beta = 3 and run.seed = 1";
  const std::string message = usage_error_of([&] { compare_settings(store_->reader(), query); });
  EXPECT_TRUE(armor::testing::contains(message, "differ in")) << message;
  query.a = "trainer.beta = 0";
  query.b = "trainer.beta = 9";
  EXPECT_TRUE(armor::testing::contains(usage_error_of([&] { compare_settings(store_->reader(), query); }),
                                       "no finished run is B"));
}

TEST_F(SweepStatisticsTest, PivotRefusesTheSweptParamItIsNotAskedAboutOrShowsIt) {
  PivotQuery query;
  query.rows = {"trainer.beta"};
  query.cols = {"model.k"};
  query.metrics = {"pgd20_acc"};
  const std::string message = usage_error_of([&] { pivot_runs(store_->reader(), query); });
  EXPECT_TRUE(armor::testing::contains(message, "model.num_experts (2, 4) varies inside the cells")) << message;
  EXPECT_TRUE(armor::testing::contains(message, "--rows trainer.beta,model.num_experts")) << message;
  query.rows = {"trainer.beta", "model.num_experts"};
  query.split_stats = true;
  const ResultTable table = pivot_runs(store_->reader(), query);
  ASSERT_EQ(table.rows.size(), 4U);
  EXPECT_DOUBLE_EQ(number_at(table, 0, "1 n"), 3) << "a cell holds the three seeds only";
}

TEST_F(SweepStatisticsTest, ParetoEqualsABruteForceFront) {
  for (const auto& expected : statistics_fixture("pareto.csv")) {
    ParetoQuery query;
    std::vector<std::string> texts;
    std::stringstream list(expected.at("objectives"));
    for (std::string part; std::getline(list, part, ',');) texts.push_back(part);
    query.objectives = parse_objectives(texts);
    const ResultTable table = pareto_runs(store_->reader(), query);
    std::set<std::int64_t> runs;
    for (std::size_t r = 0; r < table.rows.size(); ++r) runs.insert(std::get<std::int64_t>(table.rows[r][0]));
    std::set<std::int64_t> want;
    for (const double index : armor::testing::numbers(expected.at("front")))
      want.insert(ids_[static_cast<std::size_t>(index)]);
    EXPECT_EQ(runs, want) << expected.at("objectives");
  }
  EXPECT_THROW(parse_objectives({"clean_acc"}), UsageError);
}

TEST_F(SweepStatisticsTest, EffectsOfARandomSearchAreTheDocumentedVarianceShares) {
  // The runs of the grid with beta = 3 and k = 1 and seed < 2 dropped: no longer a full grid.
  EffectsQuery query;
  query.metrics = {"pgd20_acc"};
  query.filter.where = "not (trainer.beta = 3 and model.k = 1 and run.seed < 2)";
  const ResultTable table = effects_of_sweep(store_->reader(), query);
  EXPECT_TRUE(armor::testing::contains(table.note, "importance estimate")) << table.note;
  ASSERT_EQ(table.rows.size(), 6U) << "3 params and 3 pairs";
  EXPECT_EQ(text_at(table, 0, "source"), "model.num_experts");
  EXPECT_TRUE(std::isnan(number_at(table, 0, "p"))) << "no test";
}

TEST(ZippedArmsEffectsTest, ParamsThatVaryTogetherAreOneFactorWithTheExactOneWayAnova) {
  // Claim 1's shape: three arms zipped over model.moe_type and model.num_experts, 3 seeds each.
  // Arm means 0.6, 0.5, 0.2 around 0.4333..., each arm's seeds at -0.1, 0, +0.1: SS between
  // 3 * (0.1667² + 0.0667² + 0.2333²) = 0.26 on 2 df, SS within 0.06 on 6 df, F = 13, share 0.8125,
  // p = (1 + 2 * 13 / 6)^-3 = 27/4096 (scipy.stats.f.sf(13, 2, 6) = 0.006591796875).
  RunStore store(":memory:");
  const std::vector<std::pair<std::string, std::int64_t>> arms{{"block", 1}, {"block", 4}, {"conv", 4}};
  const std::vector<double> means{0.6, 0.5, 0.2};
  std::vector<NewRun> runs;
  std::vector<double> values;
  for (std::size_t arm = 0; arm < arms.size(); ++arm) {
    for (std::int64_t seed = 0; seed < 3; ++seed) {
      NewRun run;
      run.index = static_cast<int>(runs.size());
      run.experiment = "zip.toml";
      run.config_hash = "zip-" + std::to_string(run.index);
      run.seed = seed;
      run.params = {{"model.moe_type", ParamValue{arms[arm].first}},
                    {"model.num_experts", ParamValue{arms[arm].second}},
                    {"run.seed", ParamValue{seed}}};
      runs.push_back(run);
      values.push_back(means[arm] + 0.1 * static_cast<double>(seed - 1));
    }
  }
  const auto [sweep, ids] = store.queue().add_sweep(NewSweep{"grid", "zip.toml", "zip(...)"}, runs);
  for (std::size_t i = 0; i < ids.size(); ++i) store.queue().finish_run(ids[i], {{"clean_acc", values[i]}});
  EffectsQuery query;
  query.metrics = {"clean_acc"};
  const ResultTable table = effects_of_sweep(store.reader(), query);
  ASSERT_EQ(table.rows.size(), 3U) << "the arm, the residual and the total";
  EXPECT_EQ(cell_text(table.rows[0][1]), "model.moe_type + model.num_experts");
  EXPECT_EQ(std::get<double>(table.rows[0][2]), 2.0);
  EXPECT_NEAR(std::get<double>(table.rows[0][3]), 0.26, 1e-12);
  EXPECT_NEAR(std::get<double>(table.rows[0][5]), 13.0, 1e-9);
  EXPECT_NEAR(std::get<double>(table.rows[0][6]), 0.006591796875, 1e-12);
  EXPECT_NEAR(std::get<double>(table.rows[0][7]), 0.8125, 1e-12);
  EXPECT_EQ(cell_text(table.rows[1][1]), "residual (seeds)");
  EXPECT_EQ(std::get<double>(table.rows[1][2]), 6.0);
  EXPECT_TRUE(armor::testing::contains(table.note, "exact ANOVA")) << table.note;
  EXPECT_TRUE(armor::testing::contains(table.note, "model.moe_type + model.num_experts vary together")) << table.note;
}

TEST(RandomSearchEffectsTest, EffectsOfARandomSearchEqualPandasVarianceShares) {
  // The 40 runs of random_search.csv (trainer.lr uniform, trainer.beta a choice) as one sweep.
  RunStore store(":memory:");
  std::vector<NewRun> runs;
  const auto rows = statistics_fixture("random_search.csv");
  for (const auto& row : rows) {
    NewRun run;
    run.index = static_cast<int>(runs.size());
    run.experiment = "random.toml";
    run.config_hash = "random-" + std::to_string(run.index);
    run.params = {{"trainer.lr", ParamValue{number(row, "lr")}}, {"trainer.beta", ParamValue{number(row, "beta")}}};
    runs.push_back(run);
  }
  const auto [sweep, ids] = store.queue().add_sweep(NewSweep{"random", "random.toml", "--sweeper random"}, runs);
  for (std::size_t i = 0; i < ids.size(); ++i)
    store.queue().finish_run(ids[i], {{"pgd20_acc", number(rows[i], "pgd20_acc")}});
  EffectsQuery query;
  query.metrics = {"pgd20_acc"};
  const ResultTable table = effects_of_sweep(store.reader(), query);
  std::map<std::string, double> share;
  for (const auto& row : table.rows) share[cell_text(row[1])] = std::get<double>(row.back());
  for (const auto& expected : statistics_fixture("importance.csv")) {
    if (expected.at("grouping") == "4 rank bins") continue;  // statistics_test checks quantile_bins(…, 4)
    const std::string source = expected.at("key") == "beta" ? "trainer.beta"
                               : expected.at("key") == "lr" ? "trainer.lr"
                                                            : "trainer.lr × trainer.beta";
    ASSERT_EQ(share.count(source), 1U) << source;
    EXPECT_TRUE(near_relative(share[source], number(expected, "share"), 1e-10)) << source;
  }
  EXPECT_TRUE(armor::testing::contains(table.note, "5 equal-count bins by rank")) << table.note;
}

}  // namespace
}  // namespace armor::app
