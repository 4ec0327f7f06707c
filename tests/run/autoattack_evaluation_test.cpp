// AutoAttack's whole protocol at the evaluation level against the reference implementation's
// run_standard_evaluation (tests/fixtures/autoattack, see its README): with eval.batch_size 32,
// smaller than the 100 images, the evaluation's per-image robust flags equal the reference's at
// bs = 32, and AutoAttack::perturb_set gives the reference's adversarial images wherever the same
// random calls produce them. The model is ../shared/fixtures/autoattack/model.pt, loaded through
// the torchscript model plugin; the images are the shared fixture's, quantized to 8 bits.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../sdk/attack/attack_test_support.h"
#include "armor/attack/auto_attack.h"
#include "armor/attack/input_gradient.h"
#include "armor/run/evaluation.h"

namespace {

const std::string kModel = std::string(ARMOR_TEST_SOURCE_DIR) + "/../shared/fixtures/autoattack/model.pt";
const std::string kFixtures = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/autoattack";
const std::string kFixture = kFixtures + "/standard_eps0.055.pt";
const std::string kRandFixture = kFixtures + "/rand_eps0.055.pt";
const std::string kPlusFixture = kFixtures + "/plus_eps0.055.pt";
const std::string kL2Fixture = kFixtures + "/l2.pt";
constexpr std::int64_t kBatch = 32;

struct Reference {
  std::shared_ptr<armor::Classifier> model;
  armor::LabelledImages test;  // uint8 images [100,3,32,32], labels [100]
  torch::Tensor x;             // the images as the evaluation reads them, float in [0,1]
  double eps = 0;
  std::map<std::string, torch::Tensor> outputs;

  torch::Tensor tensor(const std::string& key) const { return outputs.at(key); }
};

Reference& reference() {
  static Reference* loaded = [] {
    for (const std::string& path : {kModel, kFixture, kRandFixture, kPlusFixture, kL2Fixture}) {
      if (!std::filesystem::exists(path)) {
        throw std::runtime_error("AutoAttack fixture missing: " + path +
                                 " (model.pt is in the shared/ checkout beside the repository)");
      }
    }
    armor_test::require_reference_kernels();
    torch::set_num_threads(1);  // the reference ran on one thread
    auto* r = new Reference();
    const armor::Params params =
        armor_test::component_params(armor::PluginKind::model, "torchscript", {{"path", kModel}});
    r->model = armor_test::shipped_registry().model("torchscript")(params, armor::ModelContext{});
    r->model->eval();
    for (const std::string& path : {kFixture, kRandFixture, kPlusFixture, kL2Fixture}) {
      std::ifstream file(path, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      for (const auto& entry : torch::pickle_load(bytes).toGenericDict()) {
        const std::string key = entry.key().toStringRef();
        const c10::IValue& value = entry.value();
        if (key == "eps") {
          r->eps = value.isTensor() ? value.toTensor().item<double>() : value.toDouble();
        } else if (value.isTensor()) {
          r->outputs.emplace(key, value.toTensor());  // x_uint8 and y: the same in both files
        }
      }
    }
    r->test.images = r->tensor("x_uint8");
    r->test.labels = r->tensor("y");
    r->x = r->test.images.to(torch::kFloat32).div_(255.0);
    return r;
  }();
  return *loaded;
}

std::shared_ptr<armor::Attack> standard_autoattack(const std::string& version = "standard") {
  return armor_test::make_attack("autoattack", {{"eps", reference().eps}, {"version", version}});
}

// The reference's flags: `key` is autoattack (the standard version), plus or rand.
torch::Tensor reference_robust(std::int64_t batch_size, const std::string& key = "autoattack") {
  return reference().tensor(key + "_bs" + std::to_string(batch_size) + "_robust").to(torch::kBool);
}

// The evaluation's per-image flags, with the attack at batch size kBatch, equal `expected` on all
// but at most `disagreements` images (FAB and Square members: their float paths differ slightly).
void expect_evaluation_flags(const std::shared_ptr<armor::Attack>& attack, const torch::Tensor& expected,
                             const std::string& label, std::int64_t disagreements = 0) {
  Reference& r = reference();
  armor::EvaluationOptions options;
  options.batch_size = kBatch;
  const armor::EvaluationResult result =
      armor::evaluate(*r.model, r.test, options, torch::kCPU, {armor::EvalAttack{"autoattack", attack}});
  ASSERT_EQ(result.images.size(), 100U);
  std::int64_t agree = 0;
  for (const armor::ImageOutcome& outcome : result.images) {
    const bool theirs = expected[outcome.image].item<bool>();
    if (disagreements == 0) {
      EXPECT_EQ(outcome.robust, theirs) << label << " image " << outcome.image;
    }
    agree += outcome.robust == theirs ? 1 : 0;
  }
  EXPECT_GE(agree, 100 - disagreements) << label;
  std::cout << label << " (eval.batch_size " << kBatch << "): per-image robust flags agree on " << agree
            << "/100 images; robust " << expected.sum().item<std::int64_t>() << " in the reference\n";
  const auto accuracy = std::find_if(result.metrics.begin(), result.metrics.end(),
                                     [](const auto& metric) { return metric.first == "autoattack_acc"; });
  ASSERT_NE(accuracy, result.metrics.end());
  EXPECT_NEAR(accuracy->second, expected.to(torch::kFloat64).mean().item<double>(),
              static_cast<double>(disagreements) / 100.0 + 1e-12);
}

TEST(AutoAttackEvaluation, ReferenceDependsOnTheBatchSize) {
  // The fixture can tell a whole-set protocol from one run per batch: the reference's images at
  // bs = 32 are not those of one batch of 100 (each batch re-seeds every member).
  Reference& r = reference();
  EXPECT_GT((r.tensor("autoattack_bs32") - r.tensor("autoattack_bs100")).abs().max().item<double>(), 1e-3);
  EXPECT_EQ(r.tensor("autoattack_bs32_robust").sum().item<std::int64_t>(), 7);
}

TEST(AutoAttackEvaluation, PerImageFlagsEqualReferenceWithBatchSmallerThanTheSet) {
  expect_evaluation_flags(standard_autoattack(), reference_robust(kBatch), "autoattack standard");
}

TEST(AutoAttackEvaluation, RandVersionFlagsEqualReference) {
  // APGD-CE and APGD-DLR with 20 EOT iterations (the model is deterministic: every pass agrees).
  expect_evaluation_flags(standard_autoattack("rand"), reference_robust(kBatch, "rand"), "autoattack rand");
}

TEST(AutoAttackEvaluation, PlusVersionFlagsEqualReferenceWithinTwoImages) {
  // APGD-CE and APGD-DLR with 5 restarts, untargeted FAB with 5, Square, APGD-T, FAB-T.
  expect_evaluation_flags(standard_autoattack("plus"), reference_robust(kBatch, "plus"), "autoattack plus", 2);
}

TEST(AutoAttackEvaluation, L2StandardFlagsEqualReferenceWithinTwoImages) {
  // APGD-CE, APGD-T, FAB-T and Square, every member in L2 (eps 2.5).
  const double eps = reference().tensor("eps_autoattack").item<double>();
  const auto attack = armor_test::make_attack(
      "autoattack", {{"eps", eps}, {"norm", std::string("L2")}, {"version", std::string("standard")}});
  expect_evaluation_flags(attack, reference_robust(kBatch, "l2_autoattack"), "autoattack L2", 2);
}

TEST(AutoAttackEvaluation, WholeSetImagesEqualReferenceWhereTheSameRandomCallsMakeThem) {
  Reference& r = reference();
  const auto attack = standard_autoattack();
  auto& ensemble = dynamic_cast<armor::AutoAttack&>(*attack);
  const torch::Tensor adversarial = ensemble.perturb_set(*r.model, r.x, r.test.labels, kBatch, torch::kCPU);
  const torch::Tensor robust = armor::predict_labels(*r.model, adversarial).eq(r.test.labels);
  EXPECT_TRUE(robust.equal(reference_robust(kBatch)));
  EXPECT_LE((adversarial - r.x).abs().max().item<double>(), r.eps + 1e-6);
  // APGD-CE and APGD-T fool every image they fool in the reference too; FAB-T and Square none.
  const std::vector<std::pair<std::string, std::int64_t>> expected{
      {"apgd-ce", 49}, {"apgd-t", 44}, {"fab-t", 0}, {"square", 0}};
  EXPECT_EQ(ensemble.fooled_by_member(), expected);
  const torch::Tensor fooled = robust.logical_not();
  EXPECT_LE((adversarial - r.tensor("autoattack_bs32")).abs().index({fooled}).max().item<double>(), 1e-5);
}

}  // namespace
