// armor db curve: accuracy against eps from a stored robustness curve, computed by hand here.

#include <gtest/gtest.h>

#include "../host_test_support.h"
#include "armor/error.h"
#include "armor/query/curve_query.h"

namespace armor::app {
namespace {

using armor::testing::contains;

// Five images: misclassified clean, broken at 0.05, two at 0.1, one never (up to 0.2).
RobustnessCurve five_images() { return {"pgd", 0.2, {{0, 0.0}, {1, 0.05}, {2, 0.1}, {3, 0.1}, {4, std::nullopt}}}; }

TEST(CurveAccuracyTest, AStepFunctionThatDropsWhereImagesBreak) {
  const std::vector<std::pair<double, double>> expected = {{0.0, 0.8}, {0.05, 0.6}, {0.1, 0.2}, {0.2, 0.2}};
  EXPECT_EQ(curve_accuracy(five_images()), expected);
}

TEST(CurveAccuracyTest, ACurveWhereNothingBreaksIsFlatToItsLargestEps) {
  const RobustnessCurve robust{"pgd", 0.3, {{0, std::nullopt}, {1, std::nullopt}}};
  const std::vector<std::pair<double, double>> expected = {{0.0, 1.0}, {0.3, 1.0}};
  EXPECT_EQ(curve_accuracy(robust), expected);
}

using armor::testing::usage_error_of;

class CurveQueryTest : public armor::testing::SweepStoreTest {};

TEST_F(CurveQueryTest, RowsPerRunAndEpsAndAClearErrorForARunWithout) {
  store_->records().record_robustness_curve(ids_[0], five_images());
  CurveQuery query;
  query.run_ids = {ids_[0]};
  const ResultTable table = curve_table(store_->reader(), query);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"run", "metric", "eps", "accuracy"}));
  ASSERT_EQ(table.rows.size(), 4u);
  EXPECT_EQ(std::get<double>(table.rows[2][3]), 0.2);
  query.metric = "apgd";
  EXPECT_TRUE(contains(usage_error_of([&] { curve_table(store_->reader(), query); }),
                       "has no robustness curve of 'apgd' (its curves: pgd)"));
  query = CurveQuery{{ids_[1]}, ""};
  EXPECT_TRUE(contains(usage_error_of([&] { curve_table(store_->reader(), query); }), "eval.curve"));
}

}  // namespace
}  // namespace armor::app
