// The attack-validity checks on tiny synthetic models: a model that quantises its input (zero
// gradients, the unbounded attack fails), one ending in softmax (probabilities), one with noise in
// its forward (randomness), one whose prediction depends on the batch, and a plain linear model
// that no check flags.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/run/eval_checks.h"

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

}  // namespace
