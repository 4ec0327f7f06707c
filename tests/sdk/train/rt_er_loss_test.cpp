// RT-ER and JTDMoE losses (armor/train/rt_er_loss.h) against a hand computation on a tiny batch.

#include <cmath>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/error.h"
#include "armor/train/rt_er_loss.h"

namespace {

using armor::ExpertSelection;

// KL(softmax(p) || softmax(q)) of two logit rows, in plain doubles.
double kl_by_hand(const std::vector<double>& p_logits, const std::vector<double>& q_logits) {
  auto softmax = [](const std::vector<double>& z) {
    double total = 0;
    for (double v : z) total += std::exp(v);
    std::vector<double> out;
    for (double v : z) out.push_back(std::exp(v) / total);
    return out;
  };
  const auto p = softmax(p_logits);
  const auto q = softmax(q_logits);
  double kl = 0;
  for (std::size_t i = 0; i < p.size(); ++i) kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

double ce_by_hand(const std::vector<double>& logits, std::size_t label) {
  double total = 0;
  for (double v : logits) total += std::exp(v);
  return -(logits[label] - std::log(total));
}

// N = 3 images, E = 3 experts, K = 2 classes.
// Router probabilities: image 0 ranks experts 2,0,1; image 1 ranks 0,1,2; image 2 ranks 1,2,0.
const std::vector<std::vector<double>> kProbs{{0.3, 0.1, 0.6}, {0.5, 0.4, 0.1}, {0.05, 0.55, 0.4}};
// [E][N][K]
const std::vector<std::vector<std::vector<double>>> kClean{{{1.0, -1.0}, {0.5, 0.2}, {-0.3, 0.9}},
                                                           {{0.1, 0.4}, {2.0, -0.5}, {0.0, 1.5}},
                                                           {{-1.2, 0.3}, {0.7, 0.7}, {1.1, -0.2}}};
const std::vector<std::vector<std::vector<double>>> kAdv{{{-0.5, 0.5}, {0.1, 0.9}, {0.4, 0.0}},
                                                         {{0.9, -0.6}, {1.0, 0.3}, {-0.8, 0.6}},
                                                         {{0.2, -0.1}, {-0.4, 1.3}, {0.3, 0.5}}};
const std::vector<std::vector<double>> kMoeAdv{{0.2, 0.8}, {1.5, -0.5}, {-0.1, 0.3}};
const std::vector<std::size_t> kLabels{0, 0, 1};

torch::Tensor tensor_of(const std::vector<std::vector<double>>& rows) {
  std::vector<torch::Tensor> parts;
  for (const auto& row : rows) parts.push_back(torch::tensor(row, torch::kFloat64));
  return torch::stack(parts);
}

torch::Tensor tensor_of(const std::vector<std::vector<std::vector<double>>>& blocks) {
  std::vector<torch::Tensor> parts;
  for (const auto& block : blocks) parts.push_back(tensor_of(block));
  return torch::stack(parts);
}

torch::Tensor labels() { return torch::tensor({0, 0, 1}, torch::kInt64); }

double moe_ce_by_hand() {
  double ce = 0;
  for (std::size_t n = 0; n < 3; ++n) ce += ce_by_hand(kMoeAdv[n], kLabels[n]);
  return ce / 3;
}

TEST(RtErLossTest, SecondRankedSelectionPicksEachImagesRunnerUpExpert) {
  const armor::ExpertPairs pairs = armor::select_expert_pairs(tensor_of(kProbs), ExpertSelection::second);
  // Runners-up: image 0 -> expert 0, image 1 -> expert 1, image 2 -> expert 2; grouped by expert.
  EXPECT_TRUE(torch::equal(pairs.experts, torch::tensor({0, 1, 2}, torch::kInt64))) << pairs.experts;
  EXPECT_TRUE(torch::equal(pairs.images, torch::tensor({0, 1, 2}, torch::kInt64))) << pairs.images;
  const armor::ExpertPairs top = armor::select_expert_pairs(tensor_of(kProbs), ExpertSelection::top1);
  // Top experts: image 0 -> 2, image 1 -> 0, image 2 -> 1; grouped by expert: (1,0), (2,1), (0,2).
  EXPECT_TRUE(torch::equal(top.experts, torch::tensor({0, 1, 2}, torch::kInt64))) << top.experts;
  EXPECT_TRUE(torch::equal(top.images, torch::tensor({1, 2, 0}, torch::kInt64))) << top.images;
  EXPECT_TRUE(torch::equal(top.images_of(2), torch::tensor({0}, torch::kInt64)));
  const armor::ExpertPairs all = armor::select_expert_pairs(tensor_of(kProbs), ExpertSelection::all);
  EXPECT_EQ(all.size(), 9);
  EXPECT_TRUE(torch::equal(all.images_of(1), torch::tensor({0, 1, 2}, torch::kInt64)));
}

TEST(RtErLossTest, SecondRankedLossMatchesAHandComputation) {
  const double beta = 6.0;
  // S_0 = {0}, S_1 = {1}, S_2 = {2}: expert e on image e.
  double kl = 0;
  for (std::size_t e = 0; e < 3; ++e) kl += kl_by_hand(kClean[e][e], kAdv[e][e]);
  const double expected = moe_ce_by_hand() + beta / 3.0 * kl;
  const armor::RtErLoss loss = armor::rt_er_loss(tensor_of(kMoeAdv), labels(), tensor_of(kClean), tensor_of(kAdv),
                                                 tensor_of(kProbs), beta, ExpertSelection::second);
  EXPECT_NEAR(loss.total.item<double>(), expected, 1e-12);
  EXPECT_NEAR(loss.moe_ce.item<double>(), moe_ce_by_hand(), 1e-12);
  EXPECT_NEAR(loss.expert_kl.item<double>(), kl / 3.0, 1e-12);
}

TEST(RtErLossTest, TopOneAndAllSelectionsMatchHandComputations) {
  const double beta = 3.0;
  const std::size_t top_expert[3] = {2, 0, 1};
  double kl_top = 0, kl_all = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    kl_top += kl_by_hand(kClean[top_expert[n]][n], kAdv[top_expert[n]][n]);
    for (std::size_t e = 0; e < 3; ++e) kl_all += kl_by_hand(kClean[e][n], kAdv[e][n]);
  }
  auto total = [&](ExpertSelection selection) {
    return armor::rt_er_loss(tensor_of(kMoeAdv), labels(), tensor_of(kClean), tensor_of(kAdv), tensor_of(kProbs), beta,
                             selection)
        .total.item<double>();
  };
  EXPECT_NEAR(total(ExpertSelection::top1), moe_ce_by_hand() + beta / 3.0 * kl_top, 1e-12);
  EXPECT_NEAR(total(ExpertSelection::all), moe_ce_by_hand() + beta / 3.0 * kl_all, 1e-12);
}

TEST(RtErLossTest, BetaZeroIsThePgdAtLoss) {
  const torch::Tensor moe = tensor_of(kMoeAdv);
  const armor::RtErLoss loss = armor::rt_er_loss(moe, labels(), tensor_of(kClean), tensor_of(kAdv), tensor_of(kProbs),
                                                 0.0, ExpertSelection::second);
  EXPECT_TRUE(torch::equal(loss.total, torch::nn::functional::cross_entropy(moe, labels())));
}

TEST(RtErLossTest, PairFormEqualsDenseFormAndBothBranchesGetGradients) {
  const torch::Tensor clean = tensor_of(kClean).requires_grad_();
  const torch::Tensor adv = tensor_of(kAdv).requires_grad_();
  const armor::ExpertPairs pairs = armor::select_expert_pairs(tensor_of(kProbs), ExpertSelection::second);
  const torch::Tensor rows = pairs.experts * 3 + pairs.images;
  const armor::RtErLoss sparse =
      armor::rt_er_loss(tensor_of(kMoeAdv), labels(), clean.reshape({9, 2}).index_select(0, rows),
                        adv.reshape({9, 2}).index_select(0, rows), 6.0);
  const armor::RtErLoss dense =
      armor::rt_er_loss(tensor_of(kMoeAdv), labels(), clean, adv, tensor_of(kProbs), 6.0, ExpertSelection::second);
  EXPECT_NEAR(sparse.total.item<double>(), dense.total.item<double>(), 1e-12);
  dense.total.backward();
  // Only the selected (expert, image) entries receive gradient, on both the clean and the attacked side.
  const torch::Tensor touched = clean.grad().abs().sum(2).gt(0);
  EXPECT_TRUE(torch::equal(touched, torch::eye(3, torch::kBool))) << clean.grad();
  EXPECT_TRUE(torch::equal(adv.grad().abs().sum(2).gt(0), torch::eye(3, torch::kBool))) << adv.grad();
}

TEST(RtErLossTest, SecondSelectionNeedsTwoExpertsAndNamesAreChecked) {
  EXPECT_THROW(armor::select_expert_pairs(torch::ones({4, 1}), ExpertSelection::second), c10::Error);
  EXPECT_EQ(armor::expert_selection_from_string("top1"), ExpertSelection::top1);
  EXPECT_THROW(armor::expert_selection_from_string("second_best"), armor::ConfigError);
}

TEST(RtErLossTest, JtdmoeStandardStepIsTheDualCrossEntropyWithTheRobustMemberFrozen) {
  const torch::Tensor standard = tensor_of(kMoeAdv).requires_grad_();
  const torch::Tensor robust = tensor_of(kProbs).narrow(1, 0, 2).requires_grad_();
  const torch::Tensor loss = armor::jtdmoe_standard_loss(standard, robust, labels(), 0.7);
  double expected = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    expected +=
        ce_by_hand({0.3 * kMoeAdv[n][0] + 0.7 * kProbs[n][0], 0.3 * kMoeAdv[n][1] + 0.7 * kProbs[n][1]}, kLabels[n]);
  }
  EXPECT_NEAR(loss.item<double>(), expected / 3, 1e-12);
  loss.backward();
  EXPECT_TRUE(standard.grad().defined());
  EXPECT_FALSE(robust.grad().defined());
}

}  // namespace
