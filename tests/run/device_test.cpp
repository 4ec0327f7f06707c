// Every shipped plugin on each device: the CPU always, CUDA where LibTorch has it and a GPU is
// visible (those cases skip otherwise, so CI without a GPU runs the CPU half of every check). On each
// device: every model runs forward and backward with its parameters, buffers, gradients and routing
// there (a tensor a plugin makes without the input's device fails here on CUDA); every gate's sparse
// MoE layer equals the dense reference; every attack returns its images there, inside its ball;
// every trainer trains there; a checkpoint written on one device resumes on the other. On CUDA,
// gradient attacks also agree with the same attack on the CPU within float tolerance.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "../plugins/model_test_support.h"
#include "armor/attack/attack.h"
#include "armor/data/builtin_datasets.h"
#include "armor/data/dataset.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/plugin/registry.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"

namespace {

using armor::PluginKind;
using armor_test::Changes;
using armor_test::make_model;
using armor_test::plugin_params;
using armor_test::plugin_registry;

// CIFAR-sized images, 10 classes: the papers' inputs, small enough for a few CPU batches.
const armor::DatasetInfo kImages{"tiny", 3, 32, 32, 10, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};

// A model of each shipped model plugin (torchscript loads a file instead), as small as it builds.
struct ModelCase {
  std::string label;
  std::string plugin;
  Changes changes;
  std::string gate = "topk";
};

std::vector<ModelCase> model_cases() {
  const Changes small_resnet{{"depth", std::int64_t{10}}, {"stages", std::int64_t{2}},
                             {"width_multiplier", 0.125}, {"num_experts", std::int64_t{2}},
                             {"moe_layers", std::string("layer2")}};
  Changes conv_moe = small_resnet;
  conv_moe.emplace_back("moe_type", std::string("conv"));
  const Changes ensemble = armor_test::small_ensemble(2);
  Changes stem_router = ensemble;
  stem_router.emplace_back("router_input", std::string("conv_stem"));
  return {
      {"resnet_blockmoe", "resnet", small_resnet},
      {"resnet_convmoe", "resnet", conv_moe},
      {"moe_cnn", "moe_cnn", {{"width", std::int64_t{8}}, {"num_experts", std::int64_t{2}}}},
      {"vit_moe", "vit",
       {{"preset", std::string("custom")}, {"patch_size", std::int64_t{8}}, {"embed_dim", std::int64_t{16}},
        {"depth", std::int64_t{2}}, {"heads", std::int64_t{2}}, {"mlp_ratio", 2.0}, {"num_experts", std::int64_t{2}},
        {"moe_layers", std::string("1")}}},
      {"output_moe", "output_moe", ensemble, "linear_router"},
      {"output_moe_conv_stem", "output_moe", stem_router, "linear_router"},
      {"dual_moe", "dual_moe", ensemble, "linear_router"},
  };
}

std::shared_ptr<armor::Classifier> build(const ModelCase& model, torch::Device device, std::uint64_t seed = 1) {
  torch::manual_seed(seed);
  auto built = make_model(model.plugin, model.changes, kImages, model.gate);
  built->to(device);
  return built;
}

std::set<std::string> registered(PluginKind kind) {
  const std::vector<std::string> names = plugin_registry().names(kind);
  return {names.begin(), names.end()};
}

// Every parameter and buffer of `module` (and every gradient it has) is on `device`.
void expect_on(const torch::nn::Module& module, torch::Device device, const std::string& what) {
  for (const auto& item : module.named_parameters()) {
    EXPECT_EQ(item.value().device(), device) << what << ": parameter " << item.key();
    if (item.value().grad().defined()) {
      EXPECT_EQ(item.value().grad().device(), device) << what << ": gradient of " << item.key();
    }
  }
  for (const auto& item : module.named_buffers()) EXPECT_EQ(item.value().device(), device) << what << ": " << item.key();
}

std::shared_ptr<armor::BalancingLoss> switch_loss() {
  return plugin_registry().balancing("switch")(plugin_params(PluginKind::balancing, "switch"));
}

struct NullSink : armor::MetricSink {
  bool epoch_end(int epoch, const armor::MetricValues& values) override {
    epochs.emplace_back(epoch, values);
    return stop_after == 0 || epoch < stop_after;
  }
  // The checkpointed epoch a resume gives back is not an epoch trained here: not counted.
  bool epoch_resumed(int, const armor::MetricValues&) override { return true; }
  int stop_after = 0;
  std::vector<std::pair<int, armor::MetricValues>> epochs;
};

std::shared_ptr<armor::DatasetSplits> synthetic_images(std::int64_t count) {
  armor::Registry builtin;
  armor::register_builtin_datasets(builtin);
  armor::Params data("data");
  for (const auto& spec : builtin.info(PluginKind::dataset, "synthetic").params.specs())
    data.set(spec.name, spec.default_value, "default");
  data.set("train_size", count, "test");
  data.set("test_size", std::int64_t{16}, "test");
  data.set("channels", kImages.channels, "test");
  data.set("image_size", kImages.height, "test");
  data.set("num_classes", kImages.num_classes, "test");
  return builtin.dataset("synthetic")(data);
}

bool cuda_visible() { return torch::cuda::is_available(); }

class DeviceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    device_ = torch::Device(GetParam());
    if (device_.is_cuda() && !cuda_visible()) GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
  }
  torch::Device device_{torch::kCPU};
};

INSTANTIATE_TEST_SUITE_P(Devices, DeviceTest, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST_P(DeviceTest, EveryModelRunsForwardAndBackwardWithEverythingOnTheDevice) {
  std::set<std::string> covered;
  for (const ModelCase& model_case : model_cases()) {
    covered.insert(model_case.plugin);
    auto model = build(model_case, device_);
    model->train();
    const torch::Tensor x = torch::rand({4, kImages.channels, kImages.height, kImages.width}, device_);
    const torch::Tensor y = torch::randint(kImages.num_classes, {4}, torch::TensorOptions(device_).dtype(torch::kLong));
    const torch::Tensor logits = model->forward(x);
    ASSERT_EQ(logits.device(), device_) << model_case.label;
    ASSERT_EQ(logits.sizes(), (std::vector<std::int64_t>{4, kImages.num_classes})) << model_case.label;
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
    if (!model->moe_layers().empty()) {
      const armor::BalancingTerm balancing(switch_loss(), 0.5);
      const torch::Tensor term = balancing.compute(*model);
      EXPECT_EQ(term.device(), device_) << model_case.label << ": balancing loss";
      loss = loss + term;
    }
    for (auto& [name, layer] : model->moe_layers()) {
      const armor::GateOutput& routing = layer->last_routing();
      EXPECT_EQ(routing.probs.device(), device_) << model_case.label << ": " << name << " probs";
      EXPECT_EQ(routing.indices.device(), device_) << model_case.label << ": " << name << " indices";
      EXPECT_EQ(routing.weights.device(), device_) << model_case.label << ": " << name << " weights";
    }
    loss.backward();
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << model_case.label;
    expect_on(*model, device_, model_case.label);
  }
  std::set<std::string> shipped = registered(PluginKind::model);
  shipped.erase("torchscript");  // loads a TorchScript file: eval_test runs one
  EXPECT_EQ(covered, shipped) << "a model plugin this test does not build";
}

// Convolution experts behind each shipped gate: sparse dispatch equals the dense reference, values
// and gradients, on the device (eval mode: a noisy gate draws new noise on every call).
TEST_P(DeviceTest, EveryGatesSparseMoeLayerEqualsTheDenseReference) {
  for (const std::string& gate_name : registered(PluginKind::gate)) {
    for (const std::int64_t k : {1, 2}) {
      torch::manual_seed(3);
      armor::GateShape shape;
      shape.in_channels = 8;
      shape.num_experts = 4;
      shape.k = k;
      shape.input_shape = {8, 6, 6};
      auto gate = plugin_registry().gate(gate_name)(plugin_params(PluginKind::gate, gate_name), shape);
      armor::MoeLayer layer(armor::MoeLayerOptions(4, k), gate, [](std::int64_t) {
        return torch::nn::AnyModule(torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1)));
      });
      layer->to(device_);
      layer->eval();
      const std::string what = gate_name + ", k = " + std::to_string(k);
      const torch::Tensor x = torch::randn({16, 8, 6, 6}, torch::TensorOptions(device_).requires_grad(true));
      const torch::Tensor sparse = layer->forward(x);
      ASSERT_EQ(sparse.device(), device_) << what;
      sparse.pow(2).sum().backward();
      const torch::Tensor sparse_grad = x.grad().clone();
      x.mutable_grad().zero_();
      const torch::Tensor dense = layer->forward_dense(x);
      dense.pow(2).sum().backward();
      EXPECT_TRUE(torch::allclose(sparse, dense, 1e-4, 1e-5)) << what;
      EXPECT_TRUE(torch::allclose(sparse_grad, x.grad(), 1e-3, 1e-4)) << what << ": input gradient";
      expect_on(*layer, device_, what);
    }
  }
}

// Each attack with the work cut to a few steps or queries.
std::vector<std::pair<std::string, Changes>> attack_cases() {
  const double eps = 0.1;
  return {
      {"fgsm", {{"eps", eps}}},
      {"pgd", {{"eps", eps}, {"steps", std::int64_t{3}}, {"step_size", 0.04}}},
      {"pgd_l2", {{"eps", 1.0}, {"steps", std::int64_t{3}}, {"step_size", 0.4}, {"norm", std::string("L2")}}},
      {"apgd", {{"eps", eps}, {"steps", std::int64_t{3}}}},
      {"apgd_dlr", {{"eps", eps}, {"steps", std::int64_t{3}}, {"loss", std::string("dlr")}}},
      {"square", {{"eps", eps}, {"queries", std::int64_t{10}}}},
      {"fab", {{"eps", eps}, {"steps", std::int64_t{3}}, {"target_classes", std::int64_t{2}}}},
      {"autoattack",
       {{"eps", eps}, {"apgd_steps", std::int64_t{2}}, {"fab_steps", std::int64_t{2}}, {"square_queries", std::int64_t{5}},
        {"target_classes", std::int64_t{2}}}},
  };
}

std::string plugin_of(const std::string& label) { return label.substr(0, label.find('_')); }

TEST_P(DeviceTest, EveryAttackReturnsItsImagesOnTheDeviceInsideItsBall) {
  auto model = build(model_cases().front(), device_);
  model->eval();
  torch::manual_seed(5);
  const torch::Tensor x = torch::rand({8, kImages.channels, kImages.height, kImages.width}, device_);
  const torch::Tensor y = torch::randint(kImages.num_classes, {8}, torch::TensorOptions(device_).dtype(torch::kLong));
  std::set<std::string> covered;
  for (const auto& [label, changes] : attack_cases()) {
    const std::string plugin = plugin_of(label);
    covered.insert(plugin);
    auto attack = plugin_registry().attack(plugin)(plugin_params(PluginKind::attack, plugin, changes));
    const torch::Tensor adversarial = attack->perturb(*model, x, y);
    ASSERT_EQ(adversarial.device(), device_) << label;
    ASSERT_EQ(adversarial.sizes(), x.sizes()) << label;
    EXPECT_GE(adversarial.min().item<double>(), 0.0) << label;
    EXPECT_LE(adversarial.max().item<double>(), 1.0) << label;
    if (const auto ball = attack->threat_ball()) {
      const torch::Tensor delta = (adversarial - x).flatten(1);
      const double largest = (ball->norm == armor::Norm::linf ? delta.abs().amax(1) : delta.norm(2, 1)).max().item<double>();
      EXPECT_LE(largest, ball->eps * (1 + 1e-5) + 1e-6) << label;
    }
  }
  EXPECT_EQ(covered, registered(PluginKind::attack)) << "an attack plugin this test does not run";
}

// Each trainer on a model it trains: 1 epoch of 32 synthetic images in batches of 16.
std::vector<std::pair<std::string, std::size_t>> trainer_cases() {
  // (trainer, index into model_cases())
  return {{"standard", 0}, {"pgd_at", 0}, {"trades", 1}, {"fast_at", 2}, {"free_at", 3}, {"rt_er", 4}, {"jtdmoe", 6}};
}

Changes trainer_changes(const std::string& trainer, std::int64_t epochs) {
  Changes changes{{"epochs", epochs}, {"batch_size", std::int64_t{16}}, {"lr", 0.01}};
  if (trainer == "free_at") changes.emplace_back("replays", std::int64_t{2});
  return changes;
}

std::shared_ptr<armor::Attack> training_attack() {
  return plugin_registry().attack("pgd")(
      plugin_params(PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{2}}, {"step_size", 0.05}}));
}

TEST_P(DeviceTest, EveryTrainerTrainsOnTheDevice) {
  const auto data = synthetic_images(32);
  const auto attack = training_attack();
  const armor::BalancingTerm balancing(switch_loss(), 0.5);
  std::set<std::string> covered;
  for (const auto& [trainer_name, model_index] : trainer_cases()) {
    covered.insert(trainer_name);
    auto model = build(model_cases().at(model_index), device_);
    const auto before = model->parameters().front().detach().clone();
    auto trainer =
        plugin_registry().trainer(trainer_name)(plugin_params(PluginKind::trainer, trainer_name, trainer_changes(trainer_name, 1)));
    NullSink sink;
    armor::TrainContext context{*model, data->train, device_, attack.get(), balancing, sink, /*seed=*/7};
    trainer->fit(context);
    ASSERT_EQ(sink.epochs.size(), 1u) << trainer_name;
    for (const auto& [key, value] : sink.epochs.front().second) {
      if (key == "train_loss") {
        EXPECT_TRUE(std::isfinite(value)) << trainer_name;
      }
    }
    expect_on(*model, device_, trainer_name);
    EXPECT_FALSE(torch::equal(before, model->parameters().front().detach())) << trainer_name << " changed no weight";
  }
  EXPECT_EQ(covered, registered(PluginKind::trainer)) << "a trainer plugin this test does not run";
}

// ---- Checkpoints between devices -----------------------------------------------------------------

struct Transfer {
  std::string written_on;
  std::string resumed_on;
};

class CheckpointTransferTest : public ::testing::TestWithParam<Transfer> {
 protected:
  void SetUp() override {
    if ((GetParam().written_on == "cuda" || GetParam().resumed_on == "cuda") && !cuda_visible())
      GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
    folder_ = std::filesystem::temp_directory_path() / ("armor_device_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(folder_);
  }
  void TearDown() override { std::filesystem::remove_all(folder_); }

  // pgd_at (SGD with momentum: optimiser state to move too) on the BlockMoE ResNet, on `device`.
  NullSink fit(armor::Classifier& model, torch::Device device, std::int64_t epochs, const std::string& checkpoint,
               int stop_after = 0) {
    auto trainer = plugin_registry().trainer("pgd_at")(
        plugin_params(PluginKind::trainer, "pgd_at", trainer_changes("pgd_at", epochs)));
    NullSink sink;
    sink.stop_after = stop_after;
    armor::TrainContext context{model, data_->train, device, attack_.get(), balancing_, sink, /*seed=*/7};
    context.checkpoint = {checkpoint, 1, true};
    trainer->fit(context);
    return sink;
  }

  std::filesystem::path folder_;
  std::shared_ptr<armor::DatasetSplits> data_ = synthetic_images(32);
  std::shared_ptr<armor::Attack> attack_ = training_attack();
  armor::BalancingTerm balancing_{switch_loss(), 0.5};
};

INSTANTIATE_TEST_SUITE_P(Devices, CheckpointTransferTest,
                         ::testing::Values(Transfer{"cpu", "cpu"}, Transfer{"cpu", "cuda"}, Transfer{"cuda", "cpu"},
                                           Transfer{"cuda", "cuda"}),
                         [](const ::testing::TestParamInfo<Transfer>& info) {
                           return info.param.written_on + "_to_" + info.param.resumed_on;
                         });

TEST_P(CheckpointTransferTest, ACheckpointLoadsWithItsExactWeightsAndResumesTraining) {
  const torch::Device written_on(GetParam().written_on);
  const torch::Device resumed_on(GetParam().resumed_on);
  const ModelCase model_case = model_cases().front();

  // A finished 1-epoch run's checkpoint, loaded by the same run on the other device: it trains
  // nothing and holds the written weights exactly.
  const std::string finished = (folder_ / "finished.pt").string();
  auto written = build(model_case, written_on);
  ASSERT_EQ(fit(*written, written_on, 1, finished).epochs.size(), 1u);
  auto loaded = build(model_case, resumed_on, /*seed=*/99);  // other weights: they must come from the file
  EXPECT_TRUE(fit(*loaded, resumed_on, 1, finished).epochs.empty());
  expect_on(*loaded, resumed_on, "loaded");
  const auto expected = written->named_parameters();
  for (const auto& item : loaded->named_parameters())
    EXPECT_TRUE(torch::equal(item.value().cpu(), expected[item.key()].cpu())) << item.key();
  const auto expected_buffers = written->named_buffers();
  for (const auto& item : loaded->named_buffers())
    EXPECT_TRUE(torch::equal(item.value().cpu(), expected_buffers[item.key()].cpu())) << item.key();

  // Stopped after epoch 1 of 2, resumed on the other device: epoch 2 runs there, optimiser state
  // and all (a momentum buffer left on the writing device would stop the step).
  const std::string stopped = (folder_ / "stopped.pt").string();
  auto first = build(model_case, written_on);
  ASSERT_EQ(fit(*first, written_on, 2, stopped, /*stop_after=*/1).epochs.size(), 1u);
  auto resumed = build(model_case, resumed_on, /*seed=*/99);
  const NullSink rest = fit(*resumed, resumed_on, 2, stopped);
  ASSERT_EQ(rest.epochs.size(), 1u);
  EXPECT_EQ(rest.epochs.front().first, 2);
  expect_on(*resumed, resumed_on, "resumed");
  for (const auto& item : resumed->named_parameters())
    EXPECT_TRUE(torch::isfinite(item.value()).all().item<bool>()) << item.key();
}

// ---- CUDA against CPU ------------------------------------------------------------------------------

// The gradient attacks without random starts on the same weights on both devices, TF32 off so that
// CUDA's convolutions and products are float32 as the CPU's: the images agree but for the few pixels
// where a near-zero gradient's sign differs between the devices' summation orders.
TEST(CudaAgreementTest, GradientAttacksOnCudaAgreeWithTheSameAttackOnTheCpu) {
  if (!cuda_visible()) GTEST_SKIP() << "no CUDA GPU visible to this LibTorch";
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);
  const torch::Device cuda(torch::kCUDA);
  const ModelCase model_case = model_cases().front();
  auto on_cpu = build(model_case, torch::kCPU);
  auto on_cuda = build(model_case, cuda);
  on_cpu->eval();
  on_cuda->eval();
  torch::manual_seed(8);
  const torch::Tensor x = torch::rand({32, kImages.channels, kImages.height, kImages.width});
  const torch::Tensor y = torch::randint(kImages.num_classes, {32}, torch::kLong);
  {
    torch::NoGradGuard no_grad;
    ASSERT_TRUE(torch::allclose(on_cpu->forward(x), on_cuda->forward(x.to(cuda)).cpu(), 1e-4, 1e-5))
        << "the two copies differ before any attack";
  }
  const std::vector<std::pair<std::string, Changes>> attacks{
      {"fgsm", {{"eps", 0.1}}},
      {"pgd", {{"eps", 0.1}, {"steps", std::int64_t{5}}, {"step_size", 0.03}, {"random_start", false}}},
      {"apgd", {{"eps", 0.1}, {"steps", std::int64_t{5}}}},
  };
  for (const auto& [name, changes] : attacks) {
    auto attack = plugin_registry().attack(name)(plugin_params(PluginKind::attack, name, changes));
    const torch::Tensor cpu_images = attack->perturb(*on_cpu, x, y);
    const torch::Tensor cuda_images = attack->perturb(*on_cuda, x.to(cuda), y.to(cuda)).cpu();
    const torch::Tensor close = (cpu_images - cuda_images).abs().le(1e-4);
    EXPECT_GE(close.to(torch::kFloat).mean().item<double>(), 0.99) << name << ": share of pixels that agree";
    torch::NoGradGuard no_grad;
    const torch::Tensor cpu_right = on_cpu->forward(cpu_images).argmax(1).eq(y);
    const torch::Tensor cuda_right = on_cuda->forward(cuda_images.to(cuda)).argmax(1).cpu().eq(y);
    EXPECT_LE(cpu_right.ne(cuda_right).sum().item<std::int64_t>(), 1) << name << ": images the devices judge apart";
  }
}

}  // namespace
