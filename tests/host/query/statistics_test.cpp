// The statistics unit (armor/query/statistics.h) against references computed by scipy 1.10,
// statsmodels 0.13 and pandas (tests/fixtures/statistics/generate.py, run once; its CSV files).

#include "armor/query/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "fixture_csv.h"

namespace armor::app {
namespace {
using armor::testing::near_relative;
using armor::testing::number;
using armor::testing::numbers;
using armor::testing::statistics_fixture;

// The grid fixture as a design: factors trainer.beta, model.num_experts, model.k (two levels each).
std::vector<Observation> grid_design(const std::string& metric) {
  std::vector<Observation> out;
  for (const auto& row : statistics_fixture("grid.csv")) {
    Observation observation;
    observation.levels = {number(row, "beta") == 0 ? 0U : 1U, number(row, "num_experts") == 2 ? 0U : 1U,
                          number(row, "k") == 1 ? 0U : 1U};
    observation.value = number(row, metric);
    out.push_back(observation);
  }
  return out;
}

std::string term_name(const AnovaTerm& term) {
  static const std::vector<std::string> names{"trainer.beta", "model.num_experts", "model.k"};
  std::string out;
  for (const std::size_t f : term.factors) out += (out.empty() ? "" : " x ") + names[f];
  return out.empty() ? "residual" : out;
}

TEST(StatisticsTest, SummaryMatchesScipysStudentTInterval) {
  for (const auto& row : statistics_fixture("summary.csv")) {
    const Summary summary = summarize(numbers(row.at("values")));
    EXPECT_EQ(summary.n, static_cast<std::size_t>(number(row, "n"))) << row.at("case");
    EXPECT_TRUE(near_relative(summary.mean, number(row, "mean"), 1e-12)) << row.at("case");
    EXPECT_TRUE(near_relative(summary.sd, number(row, "sd"), 1e-12)) << row.at("case");
    EXPECT_TRUE(near_relative(summary.ci_low, number(row, "ci_low"), 1e-10)) << row.at("case");
    EXPECT_TRUE(near_relative(summary.ci_high, number(row, "ci_high"), 1e-10)) << row.at("case");
  }
}

TEST(StatisticsTest, SummaryOfOneValueHasNoSpreadOrInterval) {
  const Summary one = summarize({0.4, std::nan("")});
  EXPECT_EQ(one.n, 1U);
  EXPECT_DOUBLE_EQ(one.mean, 0.4);
  EXPECT_TRUE(std::isnan(one.sd));
  EXPECT_TRUE(std::isnan(one.ci_low));
  EXPECT_TRUE(std::isnan(summarize({}).mean));
}

TEST(StatisticsTest, WilcoxonMatchesScipyExactAndApproximate) {
  for (const auto& row : statistics_fixture("wilcoxon.csv")) {
    const WilcoxonResult result = wilcoxon_signed_rank(numbers(row.at("values")));
    EXPECT_EQ(result.exact, row.at("method") == "exact") << row.at("case");
    EXPECT_DOUBLE_EQ(result.statistic, number(row, "statistic")) << row.at("case");
    EXPECT_TRUE(near_relative(result.p_value, number(row, "p"), 1e-10)) << row.at("case");
  }
}

TEST(StatisticsTest, PairedComparisonMatchesScipysTtestRelAndWilcoxon) {
  const auto grid = statistics_fixture("grid.csv");
  for (const auto& row : statistics_fixture("paired.csv")) {
    // grid.csv is ordered by beta, num_experts, k, seed: the first 12 rows are beta = 0, the same
    // order of (num_experts, k, seed) as the 12 after them.
    std::vector<double> a;
    std::vector<double> b;
    for (std::size_t i = 0; i < 12; ++i) {
      if (row.at("where") == "model.k = 2" && number(grid[i], "k") != 2) continue;
      a.push_back(number(grid[i], row.at("metric")));
      b.push_back(number(grid[i + 12], row.at("metric")));
    }
    const std::string what = row.at("metric") + " " + row.at("where");
    const PairedComparison paired = paired_comparison(a, b);
    EXPECT_EQ(paired.difference.n, static_cast<std::size_t>(number(row, "n"))) << what;
    EXPECT_TRUE(near_relative(paired.difference.mean, number(row, "mean_difference"), 1e-12)) << what;
    EXPECT_TRUE(near_relative(paired.difference.sd, number(row, "sd"), 1e-10)) << what;
    EXPECT_TRUE(near_relative(paired.difference.ci_low, number(row, "ci_low"), 1e-8)) << what;
    EXPECT_TRUE(near_relative(paired.difference.ci_high, number(row, "ci_high"), 1e-8)) << what;
    EXPECT_TRUE(near_relative(paired.t, number(row, "t"), 1e-10)) << what;
    EXPECT_TRUE(near_relative(paired.t_p_value, number(row, "t_p"), 1e-8)) << what;
    EXPECT_DOUBLE_EQ(paired.wilcoxon.statistic, number(row, "wilcoxon_statistic")) << what;
    EXPECT_TRUE(near_relative(paired.wilcoxon.p_value, number(row, "wilcoxon_p"), 1e-10)) << what;
  }
}

TEST(StatisticsTest, BalancedAnovaMatchesStatsmodelsThreeWayAndTwoWay) {
  for (const std::string metric : {"pgd20_acc", "clean_acc"}) {
    for (const std::string model : {"three_way", "two_way"}) {
      const AnovaTable table = balanced_anova(grid_design(metric), {2, 2, 2}, model == "three_way" ? 0 : 2);
      std::vector<AnovaTerm> rows = table.terms;
      rows.push_back(table.residual);
      std::size_t matched = 0;
      for (const auto& expected : statistics_fixture("anova.csv")) {
        if (expected.at("metric") != metric || expected.at("model") != model) continue;
        ++matched;
        const std::string what = metric + " " + model + " " + expected.at("source");
        bool found = false;
        for (const AnovaTerm& term : rows) {
          if (term_name(term) != expected.at("source")) continue;
          found = true;
          EXPECT_DOUBLE_EQ(term.df, number(expected, "df")) << what;
          EXPECT_TRUE(near_relative(term.ss, number(expected, "ss"), 1e-6, 1e-16)) << what;
          EXPECT_TRUE(near_relative(term.f, number(expected, "f"), 1e-6)) << what;
          EXPECT_TRUE(near_relative(term.p, number(expected, "p"), 1e-6)) << what;
        }
        EXPECT_TRUE(found) << what;
      }
      EXPECT_EQ(matched, rows.size()) << metric << " " << model;
      double shares = table.residual.share;
      for (const AnovaTerm& term : table.terms) shares += term.share;
      EXPECT_NEAR(shares, 1, 1e-9) << "the shares of a balanced design add up to the total";
    }
  }
}

TEST(StatisticsTest, BalancedAnovaMatchesStatsmodelsWithThreeLevels) {
  std::vector<Observation> design;
  for (const auto& row : statistics_fixture("grid_3x2.csv")) {
    const double beta = number(row, "beta");
    design.push_back({{beta == 1   ? 0U
                       : beta == 3 ? 1U
                                   : 2U,
                       number(row, "k") == 1 ? 0U : 1U},
                      number(row, "pgd20_acc")});
  }
  const AnovaTable table = balanced_anova(design, {3, 2});
  const std::vector<std::string> names{"trainer.beta", "model.k"};
  std::vector<AnovaTerm> rows = table.terms;
  rows.push_back(table.residual);
  const auto expected = statistics_fixture("anova_3x2.csv");
  ASSERT_EQ(rows.size(), expected.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string source;
    for (const std::size_t f : rows[r].factors) source += (source.empty() ? "" : " x ") + names[f];
    EXPECT_EQ(source.empty() ? "residual" : source, expected[r].at("source"));
    EXPECT_DOUBLE_EQ(rows[r].df, number(expected[r], "df")) << source;
    EXPECT_TRUE(near_relative(rows[r].ss, number(expected[r], "ss"), 1e-6, 1e-16)) << source;
    EXPECT_TRUE(near_relative(rows[r].f, number(expected[r], "f"), 1e-6)) << source;
    EXPECT_TRUE(near_relative(rows[r].p, number(expected[r], "p"), 1e-6)) << source;
  }
}

TEST(StatisticsTest, AnovaRefusesAnUnbalancedDesign) {
  std::vector<Observation> design = grid_design("pgd20_acc");
  design.pop_back();
  EXPECT_FALSE(is_balanced(design, {2, 2, 2}));
  EXPECT_THROW(balanced_anova(design, {2, 2, 2}), std::invalid_argument);
  EXPECT_TRUE(is_balanced(grid_design("pgd20_acc"), {2, 2, 2}));
}

TEST(StatisticsTest, VarianceShareMatchesPandasGroupby) {
  std::vector<double> lr;
  std::vector<double> values;
  std::vector<std::size_t> beta_groups;
  for (const auto& row : statistics_fixture("random_search.csv")) {
    lr.push_back(number(row, "lr"));
    values.push_back(number(row, "pgd20_acc"));
    beta_groups.push_back(static_cast<std::size_t>(number(row, "beta")));
  }
  for (const auto& row : statistics_fixture("importance.csv")) {
    if (row.at("grouping") != "values" && row.at("grouping") != "4 rank bins") continue;  // sweep_statistics_test
    const double share =
        row.at("key") == "beta" ? variance_share(beta_groups, values) : variance_share(quantile_bins(lr, 4), values);
    EXPECT_TRUE(near_relative(share, number(row, "share"), 1e-10)) << row.at("key");
  }
}

TEST(StatisticsTest, ParetoFrontMatchesABruteForceReference) {
  const auto grid = statistics_fixture("grid.csv");
  for (const auto& row : statistics_fixture("pareto.csv")) {
    const bool with_cost = row.at("objectives").find("train_seconds") != std::string::npos;
    std::vector<std::vector<double>> points;
    for (const auto& run : grid) {
      std::vector<double> point{number(run, "clean_acc"), number(run, "pgd20_acc")};
      if (with_cost) point.push_back(number(run, "train_seconds"));
      points.push_back(point);
    }
    std::vector<bool> maximise{true, true};
    if (with_cost) maximise.push_back(false);
    std::string front;
    for (const std::size_t i : pareto_front(points, maximise)) front += (front.empty() ? "" : ";") + std::to_string(i);
    EXPECT_EQ(front, row.at("front")) << row.at("objectives");
  }
}

TEST(StatisticsTest, ParetoFrontKeepsEqualPointsAndDropsNonFiniteOnes) {
  const std::vector<std::size_t> front =
      pareto_front({{1, 2}, {1, 2}, {0, 1}, {std::nan(""), 9}, {2, 0}}, {true, true});
  EXPECT_EQ(front, (std::vector<std::size_t>{0, 1, 4}));
}

}  // namespace
}  // namespace armor::app
