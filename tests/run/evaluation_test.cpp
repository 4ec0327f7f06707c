// MoE-specific evaluation: the route-held views of a model (RA-E, RA-R), fixed-expert passes,
// route change, the worst case over attacks, and the store's per-image results and added metrics.
#include "armor/run/evaluation.h"

#include <map>
#include <set>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/attack/frozen_parameters.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/run/route_held_classifier.h"
#include "armor/store/run_store.h"

namespace {

// A deterministic gate: softmax of a linear map of the flattened input, plain top-1.
class LinearGate : public armor::Gate {
 public:
  LinearGate(std::int64_t in_features, std::int64_t experts) {
    fc = register_module("fc", torch::nn::Linear(in_features, experts));
  }
  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.logits = fc(x.flatten(1));
    out.probs = torch::softmax(out.logits, 1);
    out.indices = out.probs.argmax(1, true);
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }
  torch::nn::Linear fc{nullptr};
};

// x [N,1,4,4] -> flatten -> MoE "moe1" (E experts 16->16) -> tanh -> MoE "moe2" (E experts 16->3).
class TwoLayerMoe : public armor::Classifier {
 public:
  explicit TwoLayerMoe(std::int64_t experts) {
    gate1 = std::make_shared<LinearGate>(16, experts);
    gate2 = std::make_shared<LinearGate>(16, experts);
    moe1 = register_module("moe1", armor::MoeLayer(armor::MoeLayerOptions(experts, 1), gate1, [](std::int64_t) {
                             return torch::nn::AnyModule(torch::nn::Linear(16, 16));
                           }));
    moe2 = register_module("moe2", armor::MoeLayer(armor::MoeLayerOptions(experts, 1), gate2, [](std::int64_t) {
                             return torch::nn::AnyModule(torch::nn::Linear(16, 3));
                           }));
  }
  torch::Tensor forward(const torch::Tensor& x) override { return moe2(torch::tanh(moe1(x.flatten(1)))); }
  std::vector<std::pair<std::string, armor::MoeLayer>> moe_layers() override {
    return {{"moe1", moe1}, {"moe2", moe2}};
  }

  std::shared_ptr<LinearGate> gate1, gate2;
  armor::MoeLayer moe1{nullptr}, moe2{nullptr};
};

// L-infinity sign-gradient ascent on the cross-entropy (a small PGD without random start).
class SignAttack : public armor::Attack {
 public:
  explicit SignAttack(double eps, int steps = 5) : eps_(eps), steps_(steps) {}
  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    armor::FrozenParameters frozen(model);
    torch::Tensor adv = x.clone();
    for (int i = 0; i < steps_; ++i) {
      adv.requires_grad_(true);
      const torch::Tensor loss = torch::nn::functional::cross_entropy(model.forward(adv), y);
      const torch::Tensor grad = torch::autograd::grad({loss}, {adv})[0];
      adv = (adv.detach() + eps_ / 2 * grad.sign()).clamp(x - eps_, x + eps_).clamp(0, 1);
    }
    return adv.detach();
  }
  std::string describe() const override { return "sign attack"; }

 private:
  double eps_;
  int steps_;
};

armor::LabelledImages random_images(std::int64_t n) {
  armor::LabelledImages data;
  data.images = torch::randint(0, 256, {n, 1, 4, 4}, torch::kUInt8);
  data.labels = torch::randint(0, 3, {n}, torch::kInt64);
  return data;
}

TEST(RouteHeldClassifierTest, ExpertsAttackHoldsTheCleanRoute) {
  torch::manual_seed(1);
  TwoLayerMoe model(4);
  model.eval();
  const torch::Tensor x = torch::rand({16, 1, 4, 4});
  const torch::Tensor y = torch::randint(0, 3, {16});
  armor::RouteHeldClassifier held(model, armor::HeldPart::experts);
  held.hold(x);
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::allclose(held.forward(x), model.forward(x)))
        << "holding the clean route changes no clean output";
  }
  SignAttack attack(0.25);
  const torch::Tensor adversarial = attack.perturb(held, x, y);
  ASSERT_GT((adversarial - x).abs().max().item<double>(), 0.0);
  torch::NoGradGuard no_grad;
  model.forward(adversarial);  // the model's own route on x_adv: the attack was free to change it
  bool free_route_changed = false;
  for (const auto& [name, layer] : model.moe_layers()) {
    free_route_changed |=
        !torch::equal(layer->last_routing().indices, held.clean_routing()[name == "moe1" ? 0 : 1].indices);
  }
  held.forward(adversarial);
  const auto layers = model.moe_layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    EXPECT_TRUE(torch::equal(layers[i].second->last_routing().indices, held.clean_routing()[i].indices))
        << "layer " << layers[i].first << " left the clean route under RA-E";
    EXPECT_FALSE(layers[i].second->has_held_routing()) << "the hold is released after the forward";
  }
  EXPECT_TRUE(free_route_changed)
      << "eps 0.25 should move some route of the unheld model (else the test shows nothing)";
  // A subset of the batch (an ensemble attacking only the images still robust) keeps its own route.
  const torch::Tensor rows = torch::tensor({3, 7, 11}, torch::kInt64);
  EXPECT_TRUE(torch::allclose(held.forward(adversarial.index_select(0, rows)),
                              held.forward(adversarial).index_select(0, rows)));
}

TEST(RouteHeldClassifierTest, RouterAttackReachesTheOutputOnlyThroughTheGates) {
  torch::manual_seed(2);
  TwoLayerMoe model(4);
  model.eval();
  const torch::Tensor x = torch::rand({8, 1, 4, 4});
  armor::RouteHeldClassifier router(model, armor::HeldPart::router);
  router.hold(x);
  // A perturbation too small to move any route: the experts see only x, so the output is model(x).
  const torch::Tensor nudged = (x + 1e-6).clamp(0, 1);
  {
    torch::NoGradGuard no_grad;
    model.forward(x);
    const torch::Tensor clean_route = model.moe1->last_routing().indices.clone();
    model.forward(nudged);
    ASSERT_TRUE(torch::equal(model.moe1->last_routing().indices, clean_route));
    EXPECT_TRUE(torch::allclose(router.forward(nudged), model.forward(x), 1e-6, 1e-6));
  }
  // The input gradient flows through the gates alone: with input-independent gates it vanishes,
  // while the experts-attack view (RA-E) still has one.
  for (auto* gate : {model.gate1.get(), model.gate2.get()}) {
    torch::NoGradGuard no_grad;
    gate->fc->weight.zero_();
  }
  auto input_gradient = [&](armor::Classifier& view) {
    armor::FrozenParameters frozen(model);
    const torch::Tensor input = x.clone().requires_grad_(true);
    const torch::Tensor loss = view.forward(input).sum();
    return torch::autograd::grad({loss}, {input}, /*grad_outputs=*/{}, /*retain_graph=*/c10::nullopt,
                                 /*create_graph=*/false,
                                 /*allow_unused=*/true)[0];
  };
  const torch::Tensor router_grad = input_gradient(router);
  EXPECT_TRUE(!router_grad.defined() || router_grad.abs().max().item<double>() == 0.0);
  armor::RouteHeldClassifier experts(model, armor::HeldPart::experts);
  experts.hold(x);
  EXPECT_GT(input_gradient(experts).abs().max().item<double>(), 0.0);
}

// A hard router: one-hot weights that carry no gradient (what gate.mode = "hard" gives).
class HardGate : public LinearGate {
 public:
  using LinearGate::LinearGate;
  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out = LinearGate::forward(x);
    out.weights = torch::zeros_like(out.probs).scatter(1, out.indices, 1.0).detach();
    return out;
  }
};

TEST(RouteHeldClassifierTest, ARouterAttackOnAHardRouterHasAZeroGradientNotAnError) {
  torch::manual_seed(2);
  TwoLayerMoe model(4);
  const auto hard_layer = [](std::int64_t out_features) {
    return armor::MoeLayer(armor::MoeLayerOptions(4, 1), std::make_shared<HardGate>(16, 4),
                           [=](std::int64_t) { return torch::nn::AnyModule(torch::nn::Linear(16, out_features)); });
  };
  model.moe1 = model.replace_module("moe1", hard_layer(16));
  model.moe2 = model.replace_module("moe2", hard_layer(3));
  model.eval();
  const torch::Tensor x = torch::rand({8, 1, 4, 4});
  const torch::Tensor y = torch::zeros({8}, torch::kInt64);
  armor::RouteHeldClassifier router(model, armor::HeldPart::router);
  router.hold(x);
  const torch::Tensor adversarial = SignAttack(0.1).perturb(router, x, y);  // threw before the fix
  EXPECT_TRUE(torch::equal(adversarial, x)) << "a zero gradient moves no pixel (sign(0) = 0)";
}

TEST(EvaluationTest, MoePassesFixedExpertsRouteChangeAndWorstCase) {
  torch::manual_seed(3);
  TwoLayerMoe model(3);
  const armor::LabelledImages test = random_images(40);
  armor::EvaluationOptions options;
  options.batch_size = 16;
  options.route_attacks = true;
  options.route_change = true;
  options.fixed_expert_layer = "moe2";
  const std::vector<armor::EvalAttack> attacks{{"weak", std::make_shared<SignAttack>(0.02), 0},
                                               {"strong", std::make_shared<SignAttack>(0.3), 7}};
  const armor::EvaluationResult result = armor::evaluate(model, test, options, torch::kCPU, attacks);
  std::map<std::string, double> metrics(result.metrics.begin(), result.metrics.end());
  for (const char* key : {"clean_acc", "weak_acc", "strong_acc", "weak_rae_acc", "weak_rar_acc", "strong_rae_acc",
                          "strong_rar_acc", "weak_route_change", "strong_route_change", "worst_case_acc"}) {
    ASSERT_EQ(metrics.count(key), 1u) << key;
    EXPECT_GE(metrics[key], 0.0) << key;
    EXPECT_LE(metrics[key], 1.0) << key;
  }
  EXPECT_LE(metrics["worst_case_acc"], metrics["weak_acc"]);
  EXPECT_LE(metrics["worst_case_acc"], metrics["strong_acc"]);
  EXPECT_LE(metrics["worst_case_acc"], metrics["clean_acc"]);
  EXPECT_GT(metrics["strong_route_change"], 0.0) << "eps 0.3 moves some route";
  // Per image: robust exactly when no attack (nor the clean pass) broke it.
  ASSERT_EQ(result.images.size(), 40u);
  std::int64_t robust = 0;
  for (const auto& image : result.images) {
    robust += image.robust ? 1 : 0;
    EXPECT_EQ(image.robust, image.broken_by.empty());
    if (!image.clean_correct) {
      EXPECT_EQ(image.broken_by, "clean");
    }
  }
  EXPECT_DOUBLE_EQ(metrics["worst_case_acc"], static_cast<double>(robust) / 40.0);
  // E + 1 passes at moe2: experts 0..2 forced, and -1 (routed as trained).
  EXPECT_EQ(result.fixed_expert_passes, 3);
  std::map<std::int64_t, int> rows;
  for (const auto& statistic : result.routing) {
    if (statistic.layer == "moe2" && statistic.key.rfind("fixed_", 0) == 0) ++rows[statistic.expert];
  }
  ASSERT_EQ(rows.size(), 4u);
  for (const auto& [expert, count] : rows) EXPECT_EQ(count, 6) << "expert " << expert;  // clean + 2 attacks, acc + loss
  EXPECT_FALSE(model.moe2->fixed_expert().has_value()) << "the fixed expert is released";
}

// constant_router: a router whose gates ignore their input sends every image one way and the router
// attack (RA-R) can change nothing, so its accuracy is the clean accuracy by construction: flagged.
// The same model with gates that read the input is not.
TEST(EvaluationTest, ARouterThatIgnoresItsInputFlagsItsRouterAttack) {
  torch::manual_seed(4);
  const armor::LabelledImages test = random_images(40);
  armor::EvaluationOptions options;
  options.batch_size = 16;
  options.route_attacks = true;
  const std::vector<armor::EvalAttack> attacks{{"strong", std::make_shared<SignAttack>(0.3), 0}};
  const auto rar_check = [](const armor::EvaluationResult& result) {
    std::vector<armor::EvalCheck> found;
    for (const armor::EvalCheck& check : result.checks) {
      if (check.check == "constant_router") found.push_back(check);
    }
    EXPECT_EQ(found.size(), 1u) << "one check per RA-R metric";
    return found.empty() ? armor::EvalCheck{} : found.front();
  };

  TwoLayerMoe reading(3);
  const armor::EvaluationResult routed = armor::evaluate(reading, test, options, torch::kCPU, attacks);
  const armor::EvalCheck routed_check = rar_check(routed);
  EXPECT_EQ(routed_check.metric, "strong_rar_acc");
  EXPECT_LT(routed_check.value, 0.99) << routed_check.detail;
  EXPECT_FALSE(routed_check.flagged) << routed_check.detail;

  TwoLayerMoe constant(3);
  for (auto* gate : {constant.gate1.get(), constant.gate2.get()}) {
    torch::NoGradGuard no_grad;
    gate->fc->weight.zero_();
    gate->fc->bias.copy_(torch::tensor({4.0, 0.0, 0.0}));
  }
  const armor::EvaluationResult fixed = armor::evaluate(constant, test, options, torch::kCPU, attacks);
  const armor::EvalCheck fixed_check = rar_check(fixed);
  std::map<std::string, double> metrics(fixed.metrics.begin(), fixed.metrics.end());
  EXPECT_DOUBLE_EQ(metrics.at("strong_rar_acc"), metrics.at("clean_acc")) << "RA-R is the clean accuracy";
  EXPECT_LT(metrics.at("strong_acc"), metrics.at("clean_acc")) << "while the model itself is attackable";
  EXPECT_EQ(fixed_check.metric, "strong_rar_acc");
  EXPECT_DOUBLE_EQ(fixed_check.value, 1.0);
  EXPECT_TRUE(fixed_check.flagged) << fixed_check.detail;
  EXPECT_NE(fixed_check.detail.find("by construction"), std::string::npos) << fixed_check.detail;
}

// eval.fixed_expert_attacks: the fixed-expert passes (and their expert -1 rows) run only the attacks
// it names, as paper 2 evaluates its fixed experts with PGD-20 without random start alone.
TEST(EvaluationTest, FixedExpertPassesRunOnlyTheNamedAttacks) {
  torch::manual_seed(3);
  TwoLayerMoe model(3);
  const armor::LabelledImages test = random_images(24);
  armor::EvaluationOptions options;
  options.batch_size = 8;
  options.fixed_expert_layer = "moe2";
  options.fixed_expert_attacks = " strong ";
  const std::vector<armor::EvalAttack> attacks{{"weak", std::make_shared<SignAttack>(0.02), 0},
                                               {"strong", std::make_shared<SignAttack>(0.3), 0}};
  const armor::EvaluationResult result = armor::evaluate(model, test, options, torch::kCPU, attacks);
  std::map<std::int64_t, std::set<std::string>> keys;
  for (const auto& statistic : result.routing) {
    if (statistic.layer == "moe2" && statistic.key.rfind("fixed_", 0) == 0)
      keys[statistic.expert].insert(statistic.key);
  }
  ASSERT_EQ(keys.size(), 4u);
  const std::set<std::string> expected{"fixed_clean_acc", "fixed_clean_loss", "fixed_strong_acc", "fixed_strong_loss"};
  for (const auto& [expert, names] : keys) EXPECT_EQ(names, expected) << "expert " << expert;
  std::map<std::string, double> metrics(result.metrics.begin(), result.metrics.end());
  EXPECT_EQ(metrics.count("weak_acc"), 1u) << "the whole-model evaluation still runs every attack";
  EXPECT_EQ(armor::attack_name_list("a, b ,,c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(armor::attack_name_list(" ").empty());
}

TEST(EvaluationTest, OptionsThatDoNotFitTheModelAreConfigErrors) {
  TwoLayerMoe model(2);
  armor::EvaluationOptions options;
  options.fixed_expert_layer = "layer9";
  EXPECT_THROW(armor::check_evaluation_options(model, options), armor::ConfigError);
  options.fixed_expert_layer.clear();
  options.dual_members = true;
  EXPECT_THROW(armor::check_evaluation_options(model, options), armor::ConfigError);
}

TEST(EvaluationTest, CombinedOutcomesKeepTheEarliestBreak) {
  const std::vector<armor::ImageOutcome> earlier{
      {0, true, true, ""}, {1, true, false, "pgd20"}, {2, false, false, "clean"}};
  const std::vector<armor::ImageOutcome> later{
      {0, true, false, "aa"}, {1, true, false, "aa"}, {2, false, false, "clean"}};
  const auto combined = armor::combine_outcomes(earlier, later);
  EXPECT_EQ(combined[0].broken_by, "aa");
  EXPECT_EQ(combined[1].broken_by, "pgd20");
  EXPECT_DOUBLE_EQ(armor::worst_case_accuracy(combined), 0.0);
  EXPECT_DOUBLE_EQ(armor::worst_case_accuracy(earlier), 1.0 / 3.0);
}

TEST(RunStoreEvaluationTest, ImageResultsAndMetricsAddedToAFinishedRun) {
  armor::RunStore store(":memory:");
  armor::NewRun run;
  run.experiment = "e.toml";
  run.config = "";
  run.config_hash = "h";
  const std::int64_t id = store.queue().add_run(run);
  EXPECT_THROW(store.records().add_metrics(id, {{"aa_acc", 0.5}}), armor::StoreError)
      << "a pending run gets no added metrics";
  store.queue().finish_run(id, {{"clean_acc", 0.9}});
  store.records().add_metrics(id, {{"aa_acc", 0.5}});
  const auto metrics = store.reader().metrics(id);
  EXPECT_DOUBLE_EQ(metrics.at("clean_acc"), 0.9);
  EXPECT_DOUBLE_EQ(metrics.at("aa_acc"), 0.5);
  EXPECT_EQ(store.reader().run(id).status, armor::RunStatus::finished);
  store.records().record_image_results(id, {{0, true, true, ""}, {1, false, false, "clean"}});
  store.records().record_image_results(id, {{0, true, false, "aa"}, {1, false, false, "clean"}});  // replaces
  const auto images = store.reader().image_results(id);
  ASSERT_EQ(images.size(), 2u);
  EXPECT_FALSE(images[0].robust);
  EXPECT_EQ(images[0].broken_by, "aa");
  EXPECT_EQ(images[1].broken_by, "clean");
  EXPECT_EQ(store.reader().query("SELECT count(*) FROM image_results WHERE broken_by IS NULL").rows[0][0], "0");
}

}  // namespace
