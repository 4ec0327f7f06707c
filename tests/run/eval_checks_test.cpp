// The attack-validity checks on tiny synthetic models: a model that quantises its input (zero
// gradients, the unbounded attack fails), one ending in softmax (probabilities), one with noise in
// its forward (randomness), one whose prediction depends on the batch, and a plain linear model
// that no check flags; and the robustness curve's eps ladder, against the attack run at every eps.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "armor/attack/attack.h"
#include "armor/attack/input_gradient.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/run/eval_checks.h"
#include "armor/run/evaluation.h"
#include "armor/run/robustness_curve.h"

namespace {

// logits = W flatten(x) + b; `kind` adds the defect under test.
enum class Defect { none, quantise, softmax, noise, batch };

struct TinyNet : armor::Classifier {
  explicit TinyNet(Defect defect) : defect(defect), linear(register_module("linear", torch::nn::Linear(48, 4))) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    torch::Tensor input = x;
    if (defect == Defect::quantise) input = torch::round(x * 4.0) / 4.0;   // gradient exactly 0
    if (defect == Defect::batch) input = x - x.mean(0, /*keepdim=*/true);  // batch statistics
    torch::Tensor logits = linear(input.flatten(1)) * 10.0;
    if (defect == Defect::noise) logits = logits + torch::randn_like(logits);
    if (defect == Defect::softmax) logits = torch::softmax(logits, 1);
    return logits;
  }
  Defect defect;
  torch::nn::Linear linear;
};

struct Batch {
  torch::Tensor x;
  torch::Tensor y;
};

// Images and the labels the model itself gives them: clean accuracy 1.
Batch batch_for(TinyNet& net) {
  torch::manual_seed(3);
  Batch batch{torch::rand({64, 3, 4, 4}), {}};
  torch::NoGradGuard no_grad;
  batch.y = net.forward(batch.x).argmax(1);
  return batch;
}

TEST(EvalChecksTest, APlainLinearModelPassesEveryCheck) {
  torch::manual_seed(0);
  TinyNet net(Defect::none);
  net.eval();
  const Batch b = batch_for(net);
  for (const armor::EvalCheck& check :
       {armor::check_randomness(net, b.x), armor::check_probabilities(net, b.x),
        armor::check_zero_gradients(net, b.x, b.y), armor::check_batch_dependence(net, b.x),
        armor::check_unbounded_attack(net, b.x, b.y, 10)}) {
    EXPECT_FALSE(check.flagged) << check.check << ": " << check.detail;
    EXPECT_EQ(check.metric, "") << "the standard checks are model-wide";
  }
}

TEST(EvalChecksTest, AModelThatQuantisesItsInputHasZeroGradientsAndFailsTheUnboundedAttack) {
  torch::manual_seed(0);
  TinyNet net(Defect::quantise);
  net.eval();
  const Batch b = batch_for(net);
  const armor::EvalCheck zero = armor::check_zero_gradients(net, b.x, b.y);
  EXPECT_TRUE(zero.flagged) << zero.detail;
  EXPECT_EQ(zero.value, 1.0);
  const armor::EvalCheck unbounded = armor::check_unbounded_attack(net, b.x, b.y, 10);
  EXPECT_TRUE(unbounded.flagged) << unbounded.detail;
  EXPECT_EQ(unbounded.value, 1.0) << "a gradient attack cannot move: every image stays correct";
  EXPECT_FALSE(armor::check_randomness(net, b.x).flagged);
}

TEST(EvalChecksTest, AModelEndingInSoftmaxOutputsProbabilities) {
  torch::manual_seed(0);
  TinyNet net(Defect::softmax);
  net.eval();
  const Batch b = batch_for(net);
  EXPECT_TRUE(armor::check_probabilities(net, b.x).flagged);
  TinyNet plain(Defect::none);
  EXPECT_FALSE(armor::check_probabilities(plain, b.x).flagged);
}

TEST(EvalChecksTest, NoiseInTheForwardIsRandomness) {
  torch::manual_seed(0);
  TinyNet net(Defect::noise);
  net.eval();
  const Batch b = batch_for(net);
  const armor::EvalCheck check = armor::check_randomness(net, b.x);
  EXPECT_TRUE(check.flagged) << check.detail;
  EXPECT_GT(check.value, 1e-6);
  EXPECT_TRUE(check.detail.find("EOT") != std::string::npos) << check.detail;
}

TEST(EvalChecksTest, PredictionsThatDependOnTheBatchAreFlagged) {
  torch::manual_seed(0);
  TinyNet net(Defect::batch);
  net.eval();
  const Batch b = batch_for(net);
  const armor::EvalCheck check = armor::check_batch_dependence(net, b.x);
  EXPECT_TRUE(check.flagged) << check.detail;
  EXPECT_GT(check.value, 0.0);
}

// constant_router flags a router attack only when the router is (nearly) constant and the attack
// moved neither a route nor a judgement: any one of them moving makes the RA-R number informative.
TEST(EvalChecksTest, AConstantRouterFlagsOnlyARouterAttackThatChangedNothing) {
  const auto flagged = [](double modal, std::int64_t routes, std::int64_t predictions) {
    return armor::check_constant_router("pgd50_rar_acc", {200, modal, routes, predictions}).flagged;
  };
  EXPECT_TRUE(flagged(1.0, 0, 0));
  EXPECT_TRUE(flagged(0.995, 0, 0));
  EXPECT_FALSE(flagged(0.985, 0, 0)) << "a router that splits the images is not constant";
  EXPECT_FALSE(flagged(1.0, 1, 0)) << "the attack moved a route";
  EXPECT_FALSE(flagged(1.0, 0, 3)) << "the attack changed judgements (soft weights moved)";
  const armor::EvalCheck check = armor::check_constant_router("pgd50_rar_acc", {200, 1.0, 0, 0});
  EXPECT_EQ(check.metric, "pgd50_rar_acc");
  EXPECT_EQ(check.check, "constant_router");
  EXPECT_DOUBLE_EQ(check.value, 1.0);
  EXPECT_NE(check.detail.find("200 test images"), std::string::npos) << check.detail;
}

TEST(EvalChecksTest, RunEvalChecksRunsNoneWhenOffAndEveryStandardOneOtherwise) {
  torch::manual_seed(0);
  TinyNet net(Defect::none);
  const Batch b = batch_for(net);
  const armor::LabelledImages test{(b.x * 255.0).round().to(torch::kUInt8), b.y};  // stored as bytes
  EXPECT_TRUE(armor::run_eval_checks(net, test, torch::kCPU, armor::CheckLevel::off).empty());
  EXPECT_EQ(armor::run_eval_checks(net, test, torch::kCPU, armor::CheckLevel::standard).size(), 5u);
  EXPECT_EQ(armor::check_level_from_string("full"), armor::CheckLevel::full);
  EXPECT_THROW(armor::check_level_from_string("some"), armor::ConfigError);
}

// An L-inf sign-gradient attack of `steps` steps of eps/4 (0 steps: the clean images back).
struct SignGradientAttack : armor::Attack {
  SignGradientAttack(double eps, int steps) : eps(eps), steps(steps) {}
  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    torch::Tensor point = x.clone();
    for (int step = 0; step < steps; ++step) {
      const armor::InputGradient g = armor::input_gradient(model, point, [&](const torch::Tensor& logits) {
        return torch::nn::functional::cross_entropy(
            logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
      });
      point = armor::project(armor::Norm::linf, point + eps / 4.0 * g.gradient.sign(), x, eps).detach();
    }
    return point;
  }
  std::string describe() const override { return "sign-gradient"; }
  std::optional<armor::ThreatBall> threat_ball() const override { return armor::ThreatBall{armor::Norm::linf, eps}; }
  double eps;
  int steps;
};

armor::AttackedSubset attacked_by(armor::Attack& attack, armor::Classifier& net, const Batch& b) {
  return {"pgd_acc", attack.threat_ball(), attack.uses_gradients(), attack.perturb(net, b.x, b.y)};
}

TEST(EvalChecksTest, AnAttackThatStopsEarlyIsIncompleteAndAFinishedOneIsNot) {
  torch::manual_seed(0);
  TinyNet net(Defect::none);
  net.eval();
  const Batch b = batch_for(net);
  SignGradientAttack lazy(0.1, 0);
  const armor::EvalCheck early = armor::check_incomplete_optimisation(net, b.x, b.y, attacked_by(lazy, net, b), 20);
  EXPECT_TRUE(early.flagged) << early.detail;
  EXPECT_EQ(early.metric, "pgd_acc");
  SignGradientAttack finished(0.1, 40);
  const armor::EvalCheck done = armor::check_incomplete_optimisation(net, b.x, b.y, attacked_by(finished, net, b), 20);
  EXPECT_FALSE(done.flagged) << done.detail;
  EXPECT_LT(done.value, early.value);
}

TEST(EvalChecksTest, SquareBreakingWhatAMaskedGradientAttackLeftIsAScoreBasedGap) {
  torch::manual_seed(0);
  TinyNet masked(Defect::quantise);
  masked.eval();
  const Batch b = batch_for(masked);
  SignGradientAttack pgd(0.3, 20);
  const std::vector<armor::EvalCheck> gap =
      armor::check_score_based_gap(masked, b.x, b.y, {attacked_by(pgd, masked, b)}, 300);
  ASSERT_EQ(gap.size(), 1u) << "a dense model has no route-change check";
  EXPECT_EQ(gap[0].check, "score_based_gap");
  EXPECT_TRUE(gap[0].flagged) << gap[0].detail;

  TinyNet plain(Defect::none);
  plain.eval();
  const Batch p = batch_for(plain);
  const std::vector<armor::EvalCheck> none =
      armor::check_score_based_gap(plain, p.x, p.y, {attacked_by(pgd, plain, p)}, 300);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_FALSE(none[0].flagged) << none[0].detail;
}

// A softmax gate of a linear map, top-1.
struct LinearGate : armor::Gate {
  LinearGate() : fc(register_module("fc", torch::nn::Linear(48, 4))) {}
  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.logits = fc(x.flatten(1)) * 10.0;
    out.probs = torch::softmax(out.logits, 1);
    out.indices = out.probs.argmax(1, true);
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }
  torch::nn::Linear fc;
};

// x [N,3,4,4] -> flatten -> MoE of 4 linear experts 48 -> 4.
struct TinyMoe : armor::Classifier {
  TinyMoe()
      : moe(register_module(
            "moe", armor::MoeLayer(armor::MoeLayerOptions(4, 1), std::make_shared<LinearGate>(),
                                   [](std::int64_t) { return torch::nn::AnyModule(torch::nn::Linear(48, 4)); }))) {}
  torch::Tensor forward(const torch::Tensor& x) override { return moe(x.flatten(1)) * 10.0; }
  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override { return {{"moe", moe}}; }
  armor::MoeLayer moe;
};

TEST(EvalChecksTest, ForAMoeTheRouteChangeOfWhatSquareBrokeIsRecorded) {
  torch::manual_seed(0);
  TinyMoe net;
  net.eval();
  torch::manual_seed(3);
  Batch b{torch::rand({64, 3, 4, 4}), {}};
  {
    torch::NoGradGuard no_grad;
    b.y = net.forward(b.x).argmax(1);
  }
  SignGradientAttack nothing(0.3, 0);  // leaves every image to Square
  const std::vector<armor::EvalCheck> checks =
      armor::check_score_based_gap(net, b.x, b.y, {attacked_by(nothing, net, b)}, 200);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].check, "score_based_gap");
  EXPECT_TRUE(checks[0].flagged) << "Square at eps 0.3 fools images no attack touched: " << checks[0].detail;
  EXPECT_EQ(checks[1].check, "score_based_route_change");
  EXPECT_GE(checks[1].value, 0.0);
  EXPECT_LE(checks[1].value, 1.0);
  EXPECT_EQ(checks[1].flagged, checks[1].value >= armor::CheckThresholds::kGapRouteChange) << checks[1].detail;
}

TEST(EvalChecksTest, FullChecksAddOnesPerRobustMetric) {
  torch::manual_seed(0);
  TinyNet net(Defect::none);
  const Batch b = batch_for(net);
  const armor::LabelledImages test{(b.x * 255.0).round().to(torch::kUInt8), b.y};
  const std::vector<armor::EvalAttack> attacks = {{"pgd", std::make_shared<SignGradientAttack>(0.1, 10), 0}};
  const std::vector<armor::EvalCheck> checks =
      armor::run_eval_checks(net, test, torch::kCPU, armor::CheckLevel::full, attacks);
  std::vector<std::string> per_metric;
  for (const armor::EvalCheck& check : checks) {
    if (!check.metric.empty()) per_metric.push_back(check.metric + ":" + check.check);
  }
  EXPECT_EQ(per_metric, (std::vector<std::string>{"pgd_acc:incomplete_optimisation", "pgd_acc:score_based_gap"}));
}

TEST(RobustnessCurveTest, EachImageGetsTheSmallestRungAtWhichTheAttackAloneBreaksIt) {
  torch::manual_seed(0);
  TinyNet net(Defect::none);
  net.eval();
  const Batch b = batch_for(net);
  torch::Tensor labels = b.y.clone();
  labels.narrow(0, 0, 4).add_(1).remainder_(4);  // four images misclassified clean
  const armor::LabelledImages test{(b.x * 255.0).round().to(torch::kUInt8), labels};
  armor::CurveLadder ladder;
  ladder.metric = "pgd";
  ladder.max_eps = 0.08;
  ladder.points = 4;
  ladder.batch_size = 16;
  ladder.make_attack = [](double eps) { return std::make_shared<SignGradientAttack>(eps, 10); };
  const armor::RobustnessCurve curve = armor::ladder_curve(net, test, torch::kCPU, ladder);
  ASSERT_EQ(curve.images.size(), 64u);
  EXPECT_EQ(curve.max_eps, 0.08);

  // Independently: the attack at every rung on every image, the first rung that fools it.
  const torch::Tensor x = test.images.to(torch::kFloat32).div(255.0);
  const torch::Tensor clean_right = armor::predict_labels(net, x).eq(labels);
  std::vector<std::optional<double>> expected(64);
  for (std::int64_t i = 0; i < 64; ++i) {
    if (!clean_right[i].item<bool>()) expected[static_cast<std::size_t>(i)] = 0.0;
  }
  for (const double eps : ladder.rungs()) {
    SignGradientAttack attack(eps, 10);
    const torch::Tensor fooled = armor::predict_labels(net, attack.perturb(net, x, labels)).ne(labels);
    for (std::int64_t i = 0; i < 64; ++i) {
      if (!expected[static_cast<std::size_t>(i)] && fooled[i].item<bool>()) expected[static_cast<std::size_t>(i)] = eps;
    }
  }
  std::int64_t broken_on_the_ladder = 0;
  for (std::size_t i = 0; i < 64; ++i) {
    EXPECT_EQ(curve.images[i].min_eps, expected[i]) << "image " << i;
    if (curve.images[i].min_eps && *curve.images[i].min_eps > 0) ++broken_on_the_ladder;
  }
  EXPECT_GT(broken_on_the_ladder, 0) << "the ladder must break some images for this test to mean anything";
  ladder.points = 0;
  EXPECT_THROW(armor::ladder_curve(net, test, torch::kCPU, ladder), armor::ConfigError);
}

}  // namespace
