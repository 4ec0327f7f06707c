// APGD beyond the L-infinity single-restart runs of reference_fixture_test, against the reference
// implementation's outputs (tests/fixtures/autoattack/apgd_l2.pt, see the README there): L2
// APGD-CE, APGD-DLR and APGD-T at eps 2.5, and L-infinity APGD-CE with 5 restarts (the "plus"
// version's setting) at eps 0.055. Per-image robust flags must equal the reference's. The model and
// images are ../shared/fixtures/autoattack's, the model loaded through the torchscript plugin.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/attack/input_gradient.h"
#include "attack_test_support.h"

namespace {

const std::string kShared = std::string(ARMOR_TEST_SOURCE_DIR) + "/../shared/fixtures/autoattack";
const std::string kFixture = std::string(ARMOR_TEST_SOURCE_DIR) + "/tests/fixtures/autoattack/apgd_l2.pt";

std::map<std::string, c10::IValue> read_dict(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::map<std::string, c10::IValue> dict;
  for (const auto& entry : torch::pickle_load(bytes).toGenericDict())
    dict.emplace(entry.key().toStringRef(), entry.value());
  return dict;
}

double scalar(const c10::IValue& value) {
  return value.isTensor() ? value.toTensor().item<double>() : value.toDouble();
}

struct Reference {
  std::shared_ptr<armor::Classifier> model;
  torch::Tensor x;
  torch::Tensor y;
  std::map<std::string, c10::IValue> outputs;

  torch::Tensor tensor(const std::string& key) const { return outputs.at(key).toTensor(); }
};

Reference& reference() {
  static Reference* loaded = [] {
    for (const std::string& path : {kShared + "/model.pt", kShared + "/reference_eps0.055.pt", kFixture}) {
      if (!std::filesystem::exists(path)) throw std::runtime_error("APGD reference fixture missing: " + path);
    }
    armor_test::require_reference_kernels();
    torch::set_num_threads(1);  // the reference ran on one thread
    auto* r = new Reference();
    const armor::Params params =
        armor_test::component_params(armor::PluginKind::model, "torchscript", {{"path", kShared + "/model.pt"}});
    r->model = armor_test::shipped_registry().model("torchscript")(params, armor::ModelContext{});
    r->model->eval();
    const auto images = read_dict(kShared + "/reference_eps0.055.pt");
    r->x = images.at("x").toTensor();
    r->y = images.at("y").toTensor();
    r->outputs = read_dict(kFixture);
    return r;
  }();
  return *loaded;
}

using Values = std::vector<std::pair<std::string, armor::ParamValue>>;

// Runs the attack on the 100 images; expects the reference's per-image flags, and images within
// 1e-5 of the reference's where both fooled the model (the same random calls give the same images).
void expect_reference(const std::string& key, Values values) {
  Reference& r = reference();
  const auto attack = armor_test::make_attack("apgd", values);
  const torch::Tensor adversarial = attack->perturb(*r.model, r.x, r.y);
  const torch::Tensor robust = armor::predict_labels(*r.model, adversarial).eq(r.y);
  const torch::Tensor expected = r.tensor(key + "_robust").to(torch::kBool);
  const std::int64_t agree = robust.eq(expected).sum().item<std::int64_t>();
  std::cout << key << ": per-image robust flags agree on " << agree << "/100 images; robust "
            << robust.sum().item<std::int64_t>() << " (reference " << expected.sum().item<std::int64_t>() << ")\n";
  EXPECT_EQ(agree, 100) << key;
  const torch::Tensor both_fooled = torch::logical_and(robust.logical_not(), expected.logical_not());
  if (both_fooled.any().item<bool>()) {
    EXPECT_LE((adversarial - r.tensor(key)).abs().index({both_fooled}).max().item<double>(), 1e-5) << key;
  }
}

double l2_eps() { return scalar(reference().outputs.at("eps_l2")); }

TEST(ApgdReference, L2CrossEntropyFlagsEqualReference) {
  expect_reference("l2_apgd_ce", {{"eps", l2_eps()}, {"norm", std::string("L2")}, {"loss", std::string("ce")}});
}

TEST(ApgdReference, L2DlrFlagsEqualReference) {
  expect_reference("l2_apgd_dlr", {{"eps", l2_eps()}, {"norm", std::string("L2")}, {"loss", std::string("dlr")}});
}

TEST(ApgdReference, L2TargetedFlagsEqualReference) {
  expect_reference("l2_apgd_t", {{"eps", l2_eps()}, {"norm", std::string("L2")}, {"targeted", true}});
}

TEST(ApgdReference, LinfFiveRestartsFlagsEqualReference) {
  expect_reference("linf_apgd_ce_restarts5", {{"eps", scalar(reference().outputs.at("eps_linf"))},
                                              {"loss", std::string("ce")},
                                              {"restarts", std::int64_t{5}}});
}

}  // namespace
