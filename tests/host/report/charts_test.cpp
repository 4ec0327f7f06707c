// Charts, `armor db plot`'s plots and the sweep report, computed directly from a small database.

#include <gtest/gtest.h>

#include <cmath>

#include "../host_test_support.h"
#include "armor/error.h"
#include "armor/query/pivot.h"
#include "armor/report/charts.h"
#include "armor/report/plot_query.h"
#include "armor/report/sweep_report.h"

namespace armor::app {
namespace {

using armor::testing::clean_acc_of;
using armor::testing::contains;

class ChartsTest : public armor::testing::SweepStoreTest {
 protected:
  std::vector<RunSummary> runs() const { return store_->reader().find_runs(RunFilter{}); }
};

TEST_F(ChartsTest, SeedsAreRepeatsNotAParamThatVaries) {
  EXPECT_EQ(varying_params(runs()), (std::vector<std::string>{"model.num_experts", "model.k"}));
  EXPECT_EQ(varying_params(runs(), "model.k"), (std::vector<std::string>{"model.num_experts"}));
}

TEST_F(ChartsTest, AMetricAgainstAParamHasOneLinePerOtherValueWithErrorBars) {
  const LineChart chart = metric_vs_param_chart(runs(), "model.k", "clean_acc", {"model.num_experts"});
  ASSERT_EQ(chart.series.size(), 2u);
  EXPECT_EQ(chart.series[0].name, "model.num_experts=2");
  EXPECT_EQ(chart.series[0].x, (std::vector<double>{1, 2}));
  EXPECT_NEAR(chart.series[0].y[1], (clean_acc_of(2, 2, 0) + clean_acc_of(2, 2, 1)) / 2, 1e-12);
  // Two seeds 0.001 apart: the 95 % interval half-width t(0.975, 1) * sd / sqrt(2) = 12.7062047 * 0.0005.
  EXPECT_NEAR(chart.series[0].error[1], 12.706204736174707 * 0.0005, 1e-10);
  EXPECT_TRUE(chart.x_categories.empty()) << "k is numeric";
}

TEST_F(ChartsTest, APivotHeatMapLabelsRepeatedCellsWithTheirCount) {
  const HeatMap map = pivot_heat_map(pivot_of(runs(), "model.num_experts", "model.k", "pgd_acc"), "model.num_experts",
                                     "model.k", "pgd_acc");
  EXPECT_EQ(map.rows, (std::vector<std::string>{"2", "4"}));
  EXPECT_EQ(map.cols, (std::vector<std::string>{"1", "2"}));
  EXPECT_TRUE(contains(map.labels[0][0], "(2)"));
  EXPECT_NEAR(map.values[1][1], (clean_acc_of(4, 2, 0) + clean_acc_of(4, 2, 1)) / 4, 1e-12);
}

TEST_F(ChartsTest, LinesPlotDefaultsToTheLatestSweepAndTheOtherVaryingParams) {
  LinesPlotQuery query;
  query.x = "model.num_experts";
  query.metric = "clean_acc";
  const LineChart chart = lines_plot(store_->reader(), query);
  ASSERT_EQ(chart.series.size(), 2u);
  EXPECT_EQ(chart.series[1].name, "model.k=2");
  query.metric = "no_such_metric";
  EXPECT_THROW(lines_plot(store_->reader(), query), UsageError);
}

TEST_F(ChartsTest, HeatMapPlotNamesItsSweep) {
  HeatMapPlotQuery query;
  query.rows = "model.num_experts";
  query.cols = "model.k";
  query.metric = "clean_acc";
  EXPECT_EQ(heat_map_plot(store_->reader(), query).title,
            "clean_acc by model.num_experts and model.k (sweep " + std::to_string(sweep_) + ")");
}

TEST_F(ChartsTest, CurvesPlotDrawsOneLinePerRunAndRefusesAMissingCurve) {
  CurvesPlotQuery query;
  query.run_ids = {ids_[0], ids_[3]};
  const LineChart chart = curves_plot(store_->reader(), query);
  ASSERT_EQ(chart.series.size(), 2u);
  EXPECT_EQ(chart.series[0].y, (std::vector<double>{2.0, 1.0}));
  EXPECT_TRUE(contains(chart.series[1].name, "run " + std::to_string(ids_[3]) + ": model.num_experts=2 model.k=2"));
  query.curve = "train_acc";
  EXPECT_THROW(curves_plot(store_->reader(), query), UsageError);
}

TEST_F(ChartsTest, TheSweepReportIsOnePageWithEverySection) {
  const std::string page = sweep_report_html(store_->reader(), sweep_);
  EXPECT_TRUE(contains(page, "<title>armor sweep " + std::to_string(sweep_) + ": moe</title>"));
  for (const char* id : {"config", "runs", "pivots", "scatter", "lines", "heatmaps", "curves", "experts"}) {
    EXPECT_TRUE(contains(page, std::string("<h2 id=\"") + id + "\">")) << id;
  }
  EXPECT_TRUE(contains(page, "<svg"));
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_THROW(sweep_report_html(store_->reader(), 42), StoreError);
  EXPECT_FALSE(contains(page, "class=\"flagged\""));
}

TEST_F(ChartsTest, TheSweepReportWarnsBesideAFlaggedNumberWithTheCheckDetail) {
  store_->records().record_eval_checks(ids_[0], {{"pgd_acc", "unbounded_attack", 0.9, true, "90% survive eps = 1"}});
  const std::string page = sweep_report_html(store_->reader(), sweep_);
  EXPECT_TRUE(contains(page, "robust accuracies are flagged by an attack-validity check"));
  EXPECT_TRUE(contains(page, "<td class=\"flagged\" title=\"unbounded_attack: 90% survive eps = 1\">"));
  EXPECT_TRUE(contains(page, "&#9888; unbounded_attack: 90% survive eps = 1</span>"));
  // The pivot table's cell that averages over the flagged run is marked too, naming the run.
  const std::string pivots =
      page.substr(page.find("<h2 id=\"pivots\">"), page.find("<h2 id=\"scatter\">") - page.find("<h2 id=\"pivots\">"));
  const std::string run_flag = "run " + std::to_string(ids_[0]) + ": unbounded_attack: 90% survive eps = 1";
  EXPECT_TRUE(contains(pivots, "<td class=\"flagged\" title=\"" + run_flag + "\">")) << pivots;
  EXPECT_EQ(pivots.find("class=\"flagged\""), pivots.rfind("class=\"flagged\"")) << "only the flagged run's cell";
}

}  // namespace
}  // namespace armor::app
