// armor's attacks against the reference AutoAttack implementation's outputs on the same TorchScript
// model and images (../shared/fixtures/autoattack, see its README; the outputs recomputed with pinned
// CPU kernels in tests/fixtures/autoattack/reference_eps0.055.pt): identical per-image robust flags
// for APGD-CE, APGD-DLR, APGD-T, FAB-T, Square and the standard ensemble, whose members fool the
// same images as the reference's (49 by APGD-CE, 44 more by APGD-T, none by FAB-T and Square) with
// the same adversarial images wherever the same random calls produce them (APGD-CE on all images,
// APGD-T re-seeded on the 51 still robust); and untargeted FAB, FAB-T, FAB and Square in L2 against
// tests/fixtures/autoattack (plus_eps0.055.pt, l2.pt). The model is loaded through the torchscript
// model plugin.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/attack/auto_attack.h"
#include "armor/attack/input_gradient.h"
#include "attack_test_support.h"

namespace {

const std::string kFixtureDir = std::string(ARMOR_TEST_SOURCE_DIR) + "/../shared/fixtures/autoattack";
// The shared fixture's attacks recomputed by the reference with pinned CPU kernels, on its images
// (tests/fixtures/autoattack/README.md): the shared file's own images need AVX-512 oneDNN kernels.
const std::string kReference = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/autoattack/reference_eps0.055.pt";
// Untargeted FAB's reference outputs on the same images (tests/fixtures/autoattack/README.md).
const std::string kPlusFixture = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/autoattack/plus_eps0.055.pt";
// FAB-T, FAB and Square in L2 on the same images (tests/fixtures/autoattack/README.md).
const std::string kL2Fixture = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/autoattack/l2.pt";

struct Reference {
  std::shared_ptr<armor::Classifier> model;
  torch::Tensor x;
  torch::Tensor y;
  double eps = 0;
  double eps_fab_l2 = 0;     // the L2 radius of l2_fab and l2_fab_t
  double eps_square_l2 = 0;  // that of l2_square
  std::map<std::string, torch::Tensor> outputs;

  torch::Tensor tensor(const std::string& key) const { return outputs.at(key); }
};

Reference& reference() {
  static Reference* loaded = [] {
    if (!std::filesystem::exists(kFixtureDir + "/model.pt")) {
      throw std::runtime_error("AutoAttack reference model missing: expected model.pt in " + kFixtureDir +
                               " (the shared/ checkout beside the repository)");
    }
    armor_test::require_reference_kernels();
    torch::set_num_threads(1);  // the reference ran on one thread
    auto* r = new Reference();
    const armor::Params params =
        armor_test::component_params(armor::PluginKind::model, "torchscript", {{"path", kFixtureDir + "/model.pt"}});
    r->model = armor_test::shipped_registry().model("torchscript")(params, armor::ModelContext{});
    r->model->eval();
    for (const std::string& path : {kReference, kPlusFixture, kL2Fixture}) {
      std::ifstream file(path, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      for (const auto& entry : torch::pickle_load(bytes).toGenericDict()) {
        const std::string key = entry.key().toStringRef();
        const c10::IValue& value = entry.value();
        if (path == kPlusFixture && key != "fab" && key != "fab_robust") continue;  // its images are quantised
        if (path == kL2Fixture && key.rfind("l2_", 0) != 0 && key.rfind("eps_", 0) != 0) continue;
        if (key == "eps_fab") {
          r->eps_fab_l2 = value.toTensor().item<double>();
        } else if (key == "eps_square") {
          r->eps_square_l2 = value.toTensor().item<double>();
        } else if (key == "eps") {
          r->eps = value.isTensor() ? value.toTensor().item<double>() : value.toDouble();
        } else if (value.isTensor()) {
          r->outputs.emplace(key, value.toTensor());
        }
      }
    }
    r->x = r->tensor("x");
    r->y = r->tensor("y");
    return r;
  }();
  return *loaded;
}

struct Comparison {
  std::shared_ptr<armor::Attack> attack;
  torch::Tensor adversarial;
  torch::Tensor robust;
  std::int64_t agree = 0;
  std::int64_t ours = 0;
  std::int64_t theirs = 0;
};

Comparison compare(armor::Attack& attack, const std::string& key) {
  Reference& r = reference();
  const torch::Tensor adversarial = attack.perturb(*r.model, r.x, r.y);
  const std::optional<armor::ThreatBall> ball = attack.threat_ball();
  Comparison result;
  result.adversarial = adversarial;
  result.robust = armor::predict_labels(*r.model, adversarial).eq(r.y);
  const torch::Tensor expected = r.tensor(key + "_robust").to(torch::kBool);
  result.agree = result.robust.eq(expected).sum().item<std::int64_t>();
  result.ours = result.robust.sum().item<std::int64_t>();
  result.theirs = expected.sum().item<std::int64_t>();
  EXPECT_LE(armor::per_image_norm(ball->norm, adversarial - r.x).max().item<double>(), ball->eps + 1e-5) << key;
  std::cout << key << ": per-image robust flags agree on " << result.agree << "/" << r.y.size(0) << " images; robust "
            << result.ours << " (reference " << result.theirs << ")\n";
  return result;
}

// Over the images both fooled: how far our adversarial images are from the reference's.
double max_image_difference(const Comparison& c, const std::string& key) {
  Reference& r = reference();
  const torch::Tensor both_fooled =
      torch::logical_and(c.robust.logical_not(), r.tensor(key + "_robust").to(torch::kBool).logical_not());
  return (c.adversarial - r.tensor(key)).abs().index({both_fooled}).max().item<double>();
}

TEST(ReferenceFixture, CleanModelMatches) {
  Reference& r = reference();
  const torch::Tensor correct = armor::predict_labels(*r.model, r.x).eq(r.y);
  EXPECT_TRUE(correct.equal(r.tensor("clean_correct").to(torch::kBool)));
}

using Values = std::vector<std::pair<std::string, armor::ParamValue>>;

std::shared_ptr<armor::Attack> fixture_attack(const std::string& key) {
  const double eps = reference().eps;
  if (key == "apgd_ce") return armor_test::make_attack("apgd", {{"eps", eps}, {"loss", std::string("ce")}});
  if (key == "apgd_dlr") return armor_test::make_attack("apgd", {{"eps", eps}, {"loss", std::string("dlr")}});
  if (key == "apgd_t") return armor_test::make_attack("apgd", {{"eps", eps}, {"targeted", true}});
  if (key == "fab_t") return armor_test::make_attack("fab", {{"eps", eps}});
  if (key == "fab") return armor_test::make_attack("fab", {{"eps", eps}, {"targeted", false}});
  const std::string l2 = "L2";
  const double fab_l2 = reference().eps_fab_l2;
  if (key == "l2_fab_t") return armor_test::make_attack("fab", {{"eps", fab_l2}, {"norm", l2}});
  if (key == "l2_fab") return armor_test::make_attack("fab", {{"eps", fab_l2}, {"norm", l2}, {"targeted", false}});
  if (key == "l2_square") {
    return armor_test::make_attack("square",
                                   {{"eps", reference().eps_square_l2}, {"norm", l2}, {"queries", std::int64_t{1000}}});
  }
  if (key == "square") return armor_test::make_attack("square", {{"eps", eps}, {"queries", std::int64_t{1000}}});
  return armor_test::make_attack("autoattack", {{"eps", eps}});
}

// Each attack runs once per test binary; tests share the results.
const Comparison& result_of(const std::string& key) {
  static std::map<std::string, Comparison> results;
  auto found = results.find(key);
  if (found == results.end()) {
    auto attack = fixture_attack(key);
    Comparison comparison = compare(*attack, key);
    comparison.attack = attack;
    found = results.emplace(key, std::move(comparison)).first;
  }
  return found->second;
}

TEST(ReferenceFixture, ApgdCeFlagsEqualReference) {
  const Comparison& c = result_of("apgd_ce");
  EXPECT_EQ(c.agree, 100);
  EXPECT_EQ(c.ours, c.theirs);
  EXPECT_LE(max_image_difference(c, "apgd_ce"), 1e-5);  // the same random calls give the same images
}

TEST(ReferenceFixture, ApgdDlrFlagsEqualReference) {
  const Comparison& c = result_of("apgd_dlr");
  EXPECT_EQ(c.agree, 100);
}

TEST(ReferenceFixture, ApgdTargetedFlagsEqualReference) {
  const Comparison& c = result_of("apgd_t");
  EXPECT_EQ(c.agree, 100);
}

TEST(ReferenceFixture, FabTargetedFlagsEqualReference) {
  const Comparison& c = result_of("fab_t");
  EXPECT_EQ(c.agree, 100);
  EXPECT_EQ(c.ours, c.theirs);
}

TEST(ReferenceFixture, UntargetedFabFlagsEqualReferenceWithinTwoImages) {
  // FAB on every class's hyperplane at once: 84 of the 100 images fooled within eps in the reference.
  const Comparison& c = result_of("fab");
  EXPECT_GE(c.agree, 98);
  EXPECT_LE(std::abs(c.ours - c.theirs), 2);
  EXPECT_LT(c.theirs, 50) << "the fixture must show the attack working";
}

TEST(ReferenceFixture, L2FabTargetedAndUntargetedFlagsEqualReferenceWithinTwoImages) {
  for (const std::string key : {"l2_fab_t", "l2_fab"}) {
    const Comparison& c = result_of(key);
    EXPECT_GE(c.agree, 98) << key;
    EXPECT_LE(std::abs(c.ours - c.theirs), 2) << key;
    EXPECT_LT(c.theirs, 50) << key << ": the fixture must show the attack working";
  }
}

TEST(ReferenceFixture, L2SquareFlagsEqualReferenceWithinTwoImages) {
  const Comparison& c = result_of("l2_square");
  EXPECT_GE(c.agree, 98);
  EXPECT_LE(std::abs(c.ours - c.theirs), 2);
  EXPECT_LT(c.theirs, 90) << "the fixture must show the attack working";
  std::cout << "l2_square: max image difference where both fooled " << max_image_difference(c, "l2_square") << "\n";
  EXPECT_LE(max_image_difference(c, "l2_square"), 1e-4) << "the same random calls give the same windows";
}

TEST(ReferenceFixture, SquareFlagsEqualReference) {
  const Comparison& c = result_of("square");
  EXPECT_EQ(c.agree, 100);
  EXPECT_EQ(c.ours, c.theirs);
}

TEST(ReferenceFixture, StandardAutoAttackFlagsEqualReference) {
  const Comparison& c = result_of("autoattack");
  EXPECT_EQ(c.agree, 100);
  EXPECT_EQ(c.ours, c.theirs);  // 7 (README: 51 after APGD-CE, 7 after APGD-T, unchanged by FAB-T and Square)
  // The ensemble's images are the reference's: APGD-CE's on the images it fools (the same calls as
  // alone), APGD-T's on the rest, drawn anew from seed 0 for the 51 images APGD-CE left robust.
  EXPECT_LE(max_image_difference(c, "autoattack"), 1e-5);
  EXPECT_LE(max_image_difference(result_of("apgd_t"), "apgd_t"), 1e-5);
}

TEST(ReferenceFixture, StandardAutoAttackMembersFoolTheReferencesImages) {
  const Comparison& c = result_of("autoattack");
  const auto* ensemble = dynamic_cast<const armor::AutoAttack*>(c.attack.get());
  ASSERT_NE(ensemble, nullptr);
  Reference& r = reference();
  const torch::Tensor& adversarial = c.adversarial;
  const std::vector<std::pair<std::string, std::int64_t>> expected{
      {"apgd-ce", 49}, {"apgd-t", 44}, {"fab-t", 0}, {"square", 0}};
  EXPECT_EQ(ensemble->fooled_by_member(), expected);
  // The images APGD-CE alone fools are exactly the ones the ensemble's first member fools.
  const torch::Tensor after_ce = r.tensor("apgd_ce_robust").to(torch::kBool);
  const torch::Tensor fooled_by_ce = after_ce.logical_not();
  EXPECT_LE((adversarial - r.tensor("apgd_ce")).abs().index({fooled_by_ce}).max().item<double>(), 1e-5);
}

TEST(ReferenceFixture, AutoAttackRobustAccuracyNoHigherThanAnyMember) {
  const std::int64_t ensemble = result_of("autoattack").ours;
  for (const std::string member : {"apgd_ce", "apgd_t", "fab_t", "square"}) {
    EXPECT_LE(ensemble, result_of(member).ours) << member;
  }
}

}  // namespace
