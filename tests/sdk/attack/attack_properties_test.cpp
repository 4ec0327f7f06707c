// Properties every attack must have: outputs in the eps-ball and [0,1]; the closed-form worst case
// of a linear classifier found by PGD and APGD; APGD's checkpoint schedule; a targeted attack
// reaching its target on an easy model; the model's train/eval mode and parameter gradients
// untouched.

#include <cmath>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/attack/apgd.h"
#include "armor/attack/input_gradient.h"
#include "attack_test_support.h"

namespace {

using Values = std::vector<std::pair<std::string, armor::ParamValue>>;

// x [N,3,8,8] -> logits [N,K]: a small conv net with batch norm (whose mode matters).
class SmallNet : public armor::Classifier {
 public:
  explicit SmallNet(std::int64_t classes) {
    conv_ = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)));
    norm_ = register_module("norm", torch::nn::BatchNorm2d(8));
    fc_ = register_module("fc", torch::nn::Linear(8 * 8 * 8, classes));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return fc_(torch::relu(norm_(conv_(x))).flatten(1)); }

 private:
  torch::nn::Conv2d conv_{nullptr};
  torch::nn::BatchNorm2d norm_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

// x [N,C,H,W] -> logits [N,K] = W x + b: the worst case under an L-infinity budget is known.
class LinearNet : public armor::Classifier {
 public:
  LinearNet(std::int64_t features, std::int64_t classes) {
    fc_ = register_module("fc", torch::nn::Linear(features, classes));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return fc_(x.flatten(1)); }
  torch::Tensor weight() const { return fc_->weight; }
  torch::Tensor bias() const { return fc_->bias; }

 private:
  torch::nn::Linear fc_{nullptr};
};

struct AttackCase {
  std::string plugin;
  Values values;
  bool l2 = false;
};

std::vector<AttackCase> every_attack(double eps) {
  return {
      {"fgsm", {{"eps", eps}}},
      {"pgd", {{"eps", eps}, {"steps", std::int64_t{5}}, {"step_size", eps / 2}}},
      {"pgd",
       {{"eps", eps},
        {"steps", std::int64_t{5}},
        {"step_size", eps / 2},
        {"restarts", std::int64_t{2}},
        {"loss", std::string("dlr")}}},
      {"pgd", {{"eps", 4 * eps}, {"steps", std::int64_t{5}}, {"step_size", eps}, {"norm", std::string("L2")}}, true},
      {"apgd", {{"eps", eps}, {"steps", std::int64_t{10}}}},
      {"apgd",
       {{"eps", 4 * eps}, {"steps", std::int64_t{10}}, {"norm", std::string("L2")}, {"loss", std::string("dlr")}},
       true},
      {"apgd", {{"eps", eps}, {"steps", std::int64_t{10}}, {"targeted", true}, {"target_classes", std::int64_t{3}}}},
      {"square", {{"eps", eps}, {"queries", std::int64_t{50}}}},
      {"fab", {{"eps", eps}, {"steps", std::int64_t{10}}, {"target_classes", std::int64_t{2}}}},
      {"autoattack",
       {{"eps", eps},
        {"version", std::string("custom")},
        {"attacks", std::string("apgd-ce,apgd-t,fab-t,square")},
        {"apgd_steps", std::int64_t{5}},
        {"fab_steps", std::int64_t{5}},
        {"target_classes", std::int64_t{2}},
        {"square_queries", std::int64_t{20}}}},
  };
}

TEST(AttackProperties, EveryAttackStaysInTheBallAndTheUnitBox) {
  torch::manual_seed(1);
  SmallNet model(10);
  model.eval();
  const torch::Tensor x = torch::rand({12, 3, 8, 8});
  const torch::Tensor y = armor::predict_labels(model, x);  // all correct, so every attack works on all
  const double eps = 0.05;
  for (const AttackCase& c : every_attack(eps)) {
    auto attack = armor_test::make_attack(c.plugin, c.values);
    const torch::Tensor adversarial = attack->perturb(model, x, y);
    ASSERT_EQ(adversarial.sizes(), x.sizes()) << attack->describe();
    const torch::Tensor delta = (adversarial - x).flatten(1);
    const double radius = c.l2 ? delta.norm(2, 1).max().item<double>() : delta.abs().max().item<double>();
    EXPECT_LE(radius, (c.l2 ? 4 * eps : eps) + 1e-5) << attack->describe();
    EXPECT_GE(adversarial.min().item<double>(), 0.0) << attack->describe();
    EXPECT_LE(adversarial.max().item<double>(), 1.0) << attack->describe();
    EXPECT_FALSE(adversarial.requires_grad()) << attack->describe();
  }
}

TEST(AttackProperties, AttacksLeaveModeAndParameterGradientsUntouched) {
  torch::manual_seed(2);
  SmallNet model(10);
  const torch::Tensor x = torch::rand({6, 3, 8, 8});
  const torch::Tensor y = torch::randint(0, 10, {6}, torch::kLong);
  for (const bool training : {true, false}) {
    model.train(training);
    for (const AttackCase& c : every_attack(0.03)) {
      auto attack = armor_test::make_attack(c.plugin, c.values);
      attack->perturb(model, x, y);
      EXPECT_EQ(model.is_training(), training) << attack->describe();
      for (const auto& parameter : model.parameters()) {
        EXPECT_TRUE(parameter.requires_grad()) << attack->describe();
        EXPECT_FALSE(parameter.grad().defined()) << attack->describe();
      }
    }
  }
}

// Two classes, margin m(x) = (w_y - w_o).x + (b_y - b_o): the L-infinity worst case is
// x - eps sign(w_y - w_o) (inside [0,1] here), with margin m(x) - eps |w_y - w_o|_1.
struct LinearCase {
  LinearNet model{48, 2};
  torch::Tensor x;
  torch::Tensor y;
  torch::Tensor worst;
  torch::Tensor robust;  // worst-case margin > 0
  double eps = 0;
};

LinearCase linear_case() {
  torch::manual_seed(3);
  LinearCase c;
  c.model.eval();
  c.x = 0.3 + 0.4 * torch::rand({64, 3, 4, 4});
  c.y = armor::predict_labels(c.model, c.x);
  const torch::Tensor w = c.model.weight().detach();
  const torch::Tensor direction = (w.index_select(0, c.y) - w.index_select(0, 1 - c.y)).view({-1, 3, 4, 4});
  // eps between the 32nd and 33rd smallest budget that flips an image: half the images survive it.
  torch::Tensor margin;
  {
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = c.model.forward(c.x);
    margin = logits.gather(1, c.y.unsqueeze(1)).squeeze(1) - logits.gather(1, (1 - c.y).unsqueeze(1)).squeeze(1);
  }
  const torch::Tensor flip_budget = std::get<0>((margin / direction.flatten(1).abs().sum(1)).sort());
  c.eps = 0.5 * (flip_budget[31].item<double>() + flip_budget[32].item<double>());
  c.worst = c.x - c.eps * direction.sign();
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = c.model.forward(c.worst);
  c.robust = logits.argmax(1).eq(c.y);
  return c;
}

TEST(AttackProperties, PgdFindsTheLinearWorstCase) {
  LinearCase c = linear_case();
  auto attack = armor_test::make_attack("pgd", {{"eps", c.eps}, {"steps", std::int64_t{10}}, {"step_size", c.eps / 2}});
  const torch::Tensor adversarial = attack->perturb(c.model, c.x, c.y);
  EXPECT_LE((adversarial - c.worst).abs().max().item<double>(), 1e-6);
}

TEST(AttackProperties, ApgdFoolsExactlyTheImagesTheLinearWorstCaseFools) {
  LinearCase c = linear_case();
  const std::int64_t robust = c.robust.sum().item<std::int64_t>();
  ASSERT_LT(c.eps, 0.3);  // x +- eps stays inside [0,1]: the closed form holds
  ASSERT_GT(robust, 0);
  ASSERT_LT(robust, c.x.size(0));  // some images each way, so the test can fail
  auto attack = armor_test::make_attack("apgd", {{"eps", c.eps}, {"steps", std::int64_t{20}}});
  const torch::Tensor adversarial = attack->perturb(c.model, c.x, c.y);
  EXPECT_TRUE(armor::predict_labels(c.model, adversarial).eq(c.y).equal(c.robust));
}

TEST(AttackProperties, ApgdCheckpointsFollowTheFormula) {
  EXPECT_EQ(armor::apgd_checkpoints(100), (std::vector<std::int64_t>{22, 41, 57, 70, 80, 87, 93, 99}));
  for (const std::int64_t steps : {10, 37, 250, 1000}) {
    std::vector<std::int64_t> expected;
    std::int64_t window = std::max<std::int64_t>(static_cast<std::int64_t>(0.22 * steps), 1);
    const std::int64_t shrink = std::max<std::int64_t>(static_cast<std::int64_t>(0.03 * steps), 1);
    const std::int64_t smallest = std::max<std::int64_t>(static_cast<std::int64_t>(0.06 * steps), 1);
    for (std::int64_t at = window; at <= steps;) {
      expected.push_back(at);
      window = std::max(window - shrink, smallest);
      at += window;
    }
    EXPECT_EQ(armor::apgd_checkpoints(steps), expected) << steps << " steps";
  }
}

TEST(AttackProperties, TargetedAttacksReachTheirTargetOnAnEasyModel) {
  // Class k reads only its own block of 4 pixels, so raising the target's block and lowering the
  // label's moves no other logit.
  torch::manual_seed(4);
  LinearNet model(48, 10);
  model.eval();
  {
    torch::NoGradGuard no_grad;
    model.weight().zero_();
    model.bias().zero_();
    for (std::int64_t k = 0; k < 10; ++k) model.weight()[k].slice(0, 4 * k, 4 * k + 4).fill_(1.0);
  }
  // Images whose label's block is bright (0.6), the target's nearly as bright (0.55), every other
  // pixel dark (0.1 + noise): eps = 0.05 lets the target overtake the label, and no other class.
  const torch::Tensor y = torch::randint(0, 10, {32}, torch::kLong);
  const torch::Tensor target = (y + torch::randint(1, 10, {32}, torch::kLong)) % 10;
  torch::Tensor x = (0.1 + 0.02 * torch::rand({32, 48}));
  const torch::Tensor column = torch::arange(48, torch::kLong).unsqueeze(0).div(4, "floor");
  x = torch::where(column.eq(y.unsqueeze(1)), torch::full_like(x, 0.6), x);
  x = torch::where(column.eq(target.unsqueeze(1)), torch::full_like(x, 0.55), x);
  x = x.view({32, 3, 4, 4});
  ASSERT_TRUE(armor::predict_labels(model, x).equal(y));
  for (const auto& [plugin, values] : std::vector<std::pair<std::string, Values>>{
           {"apgd",
            {{"eps", 0.05}, {"steps", std::int64_t{50}}, {"targeted", true}, {"target_classes", std::int64_t{1}}}},
           {"fab", {{"eps", 0.05}, {"steps", std::int64_t{50}}, {"target_classes", std::int64_t{1}}}}}) {
    auto attack = armor_test::make_attack(plugin, values);
    const torch::Tensor predicted = armor::predict_labels(model, attack->perturb(model, x, y));
    EXPECT_TRUE(predicted.equal(target)) << attack->describe() << ": " << predicted.eq(target).sum().item<int>()
                                         << "/32";
  }
}

// PGD's L2 random start is uniform in the ball: radius eps * U^(1/d) for d values per image, so
// P(radius <= eps * q^(1/d)) = q (a radius uniform in [0, eps] would put half the starts inside eps/2).
TEST(AttackProperties, PgdL2RandomStartIsUniformInTheBall) {
  torch::manual_seed(31);
  LinearNet model(48, 3);
  const std::int64_t n = 4000;
  const double eps = 0.5;  // |delta_i| <= |delta|_2 <= 0.5 around 0.5: the [0,1] clip never bites
  const torch::Tensor x = torch::full({n, 3, 4, 4}, 0.5);
  const torch::Tensor y = torch::zeros({n}, torch::kInt64);
  // One step of size 0: the start itself comes back.
  auto attack = armor_test::make_attack("pgd", {{"eps", eps},
                                                {"steps", std::int64_t{1}},
                                                {"step_size", 0.0},
                                                {"norm", std::string("L2")},
                                                {"random_start", true}});
  const torch::Tensor radius = (attack->perturb(model, x, y) - x).flatten(1).norm(2, 1);
  EXPECT_LE(radius.max().item<double>(), eps + 1e-5);
  const double d = 48;
  for (const double q : {0.1, 0.5, 0.9}) {
    const double share = radius.le(eps * std::pow(q, 1.0 / d)).to(torch::kFloat64).mean().item<double>();
    EXPECT_NEAR(share, q, 0.03) << "P(radius <= eps * " << q << "^(1/d))";
  }
  EXPECT_NEAR(radius.median().item<double>(), eps * std::pow(0.5, 1.0 / d), 0.002);
}

}  // namespace
