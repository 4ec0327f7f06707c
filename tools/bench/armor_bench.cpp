// armor_bench: the performance figures of armor on this machine, one line each (`name value unit`)
// and all of them in a JSON file. Usage (from the repository root, after tools/build.sh):
//   build/tools/armor_bench [--json bench.json] [--threads N]
// Figures: 1-2 training steps (images/s, GFLOP/s, share of the measured matmul peak); 3 one MoE
// layer forward+backward for E = 1..16, k = 1, 2, sparse against dense, and the kernels' floor of
// E16/E1; 4 a PGD-10 step against a forward+backward; 4b PGD-10 on the ResNet-18 MoEs; 5 an RT-ER
// step against a PGD-AT step; 5b the quickstart's fast-AT step; 5c a real epoch of `armor run` on
// the quickstart; 6 host overhead (start-up with every plugin, composing a 100-run sweep, share of a
// 1-epoch run outside training and evaluation); 7 runs.db writes (one epoch of 100 runs; 8 processes
// at once, counting "database is locked"). Beside 1-2, 4, 4b, 5b and 5c, the same work in plain
// PyTorch (tools/bench/pytorch_reference.py), interleaved round by round in this process tree:
// `<figure>_speed_over_pytorch` (> 1: armor is faster). --device cuda: the GPU figures alone (the
// ResNet-18 MoEs' training step and PGD-10 on the GPU beside PyTorch on the same GPU; --help).

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/data/builtin_datasets.h"
#include "armor/data/dataset.h"
#include "armor/nn/basic_block.h"
#include "armor/nn/classifier.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/nn/routing_network.h"
#include "armor/plugin/plugin_loader.h"
#include "armor/plugin/registry.h"
#include "armor/run/eval_checks.h"
#include "armor/store/run_store.h"
#include "armor/train/balancing_term.h"
#include "armor/train/metric_sink.h"
#include "armor/train/trainer.h"
#include "armor/util/host_allocator.h"
#include "armor/util/torch_compat.h"
#include "flop_counter.h"

namespace {

namespace fs = std::filesystem;
using Changes = std::vector<std::pair<std::string, armor::ParamValue>>;
using Clock = std::chrono::steady_clock;

// Every figure, printed as it is measured and written to JSON at the end.
class Report {
 public:
  void add(const std::string& name, double value, const std::string& unit, const std::string& target = "") {
    fmt::print("{} {:.4g} {}{}\n", name, value, unit, target.empty() ? "" : "  (target " + target + ")");
    std::fflush(stdout);
    figures_.push_back({name, value, unit, target});
  }
  void write_json(const std::string& path) const {
    std::ofstream out(path);
    out << "{\n  \"figures\": [\n";
    for (std::size_t i = 0; i < figures_.size(); ++i) {
      const Figure& f = figures_[i];
      out << fmt::format("    {{\"name\": \"{}\", \"value\": {:.6g}, \"unit\": \"{}\", \"target\": \"{}\"}}{}\n",
                         f.name, f.value, f.unit, f.target, i + 1 < figures_.size() ? "," : "");
    }
    out << "  ]\n}\n";
  }

 private:
  struct Figure {
    std::string name;
    double value;
    std::string unit;
    std::string target;
  };
  std::vector<Figure> figures_;
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// --device: where the GPU figures run (cpu: the CPU figures, every other section).
torch::Device bench_device = torch::kCPU;

// CUDA runs kernels asynchronously: a timed call is waited for before and after.
void wait_for_device() {
  if (bench_device.is_cuda()) torch::cuda::synchronize();
}

// Median seconds of `iterations` calls after `warmup` calls.
double median_seconds(const std::function<void()>& step, int warmup, int iterations) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    wait_for_device();
    const auto start = Clock::now();
    step();
    wait_for_device();
    times.push_back(seconds_since(start));
  }
  std::nth_element(times.begin(), times.begin() + iterations / 2, times.end());
  return times[static_cast<std::size_t>(iterations / 2)];
}

// --pytorch-heap same: the PyTorch reference runs with armor's heap settings too (glibc's
// environment spelling of armor::keep_freed_memory_in_heap()), to tell the allocator's share of a
// ratio from the rest. Default: plain PyTorch as a user runs it.
bool pytorch_same_heap = false;

// A plain-PyTorch reference of one workload (tools/bench/pytorch_reference.py --serve, Debian's
// python3-torch: the same LibTorch kernels), a child of this process that waits on a pipe while armor
// measures, so the two never share the cores. round(n) times n of its steps: median seconds per step.
class PythonReference {
 public:
  // `options`: more of the reference's flags (--device, --batch, --bf16, --channels-last).
  PythonReference(const std::string& workload, int threads, const std::vector<std::string>& options = {}) {
    const std::string script = std::string(ARMOR_SOURCE_DIR) + "/tools/bench/pytorch_reference.py";
    const std::string thread_count = std::to_string(threads);
    const char* interpreter = std::getenv("ARMOR_BENCH_PYTHON");  // a PyTorch 2.x with CUDA on a GPU machine
    const std::string python = interpreter != nullptr && *interpreter != '\0' ? interpreter : "/usr/bin/python3";
    std::vector<std::string> words{python, script, workload, "--threads", thread_count, "--warmup", "2", "--serve"};
    words.insert(words.end(), options.begin(), options.end());
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], STDIN_FILENO);
      dup2(from_child[1], STDOUT_FILENO);
      close(to_child[1]);
      close(from_child[0]);
      if (pytorch_same_heap) {
        setenv("MALLOC_MMAP_MAX_", "0", 1);
        setenv("MALLOC_TRIM_THRESHOLD_", "2147483647", 1);
      }
      std::vector<char*> argv;
      for (std::string& word : words) argv.push_back(word.data());
      argv.push_back(nullptr);
      execv(words.front().c_str(), argv.data());
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    to_ = fdopen(to_child[1], "w");
    from_ = fdopen(from_child[0], "r");
    if (read_line().find("\"ready\": true") == std::string::npos) {
      throw std::runtime_error("the PyTorch reference of " + workload + " did not start with " + python +
                               " (python3-torch installed? ARMOR_BENCH_PYTHON names another interpreter)");
    }
  }
  ~PythonReference() {
    std::fputs("quit\n", to_);
    std::fclose(to_);
    std::fclose(from_);
    waitpid(pid_, nullptr, 0);
  }
  PythonReference(const PythonReference&) = delete;
  PythonReference& operator=(const PythonReference&) = delete;

  double round(int steps) {
    std::fprintf(to_, "%d\n", steps);
    std::fflush(to_);
    const std::string line = read_line();
    std::smatch match;
    if (!std::regex_search(line, match, std::regex("\"seconds_per_step\": ([-+0-9.eE]+)"))) {
      throw std::runtime_error("unexpected answer of the PyTorch reference: " + line);
    }
    return std::stod(match[1].str());
  }

 private:
  std::string read_line() {
    std::string line;
    int c = 0;
    while ((c = std::fgetc(from_)) != EOF && c != '\n') line += static_cast<char>(c);
    return line;
  }

  pid_t pid_ = -1;
  std::FILE* to_ = nullptr;
  std::FILE* from_ = nullptr;
};

// armor's `armor_step` and the PyTorch reference of the same workload, round by round (each round:
// the median of 3 calls of each, who goes first alternating), printing every round's ratio and
// reporting the median: PyTorch's seconds per step over armor's (> 1: armor is faster). One call of
// `armor_step` may be several steps (a whole fit() of `armor_steps_per_call` batches).
// A step of several seconds (a PGD-10 on ResNet-18) takes fewer rounds of one call each.
struct Rounds {
  int rounds = 5;
  int calls = 3;
};

void side_by_side(Report& report, const std::string& label, const std::string& workload,
                  const std::function<void()>& armor_step, const std::string& target, int armor_steps_per_call = 1,
                  Rounds plan = {}, const std::vector<std::string>& reference_options = {}) {
  std::optional<PythonReference> reference;
  try {
    reference.emplace(workload, torch::get_num_threads(), reference_options);
  } catch (const std::exception& error) {
    fmt::print("{}_over_pytorch: skipped: {}\n", label, error.what());
    return;
  }
  std::vector<double> ratios;
  for (int round = 0; round < plan.rounds; ++round) {
    double armor_seconds = 0, pytorch_seconds = 0;
    if (round % 2 == 0) {
      armor_seconds = median_seconds(armor_step, 0, plan.calls) / armor_steps_per_call;
      pytorch_seconds = reference->round(plan.calls);
    } else {
      pytorch_seconds = reference->round(plan.calls);
      armor_seconds = median_seconds(armor_step, 0, plan.calls) / armor_steps_per_call;
    }
    ratios.push_back(pytorch_seconds / armor_seconds);
    fmt::print("  {} round {}: armor {:.4g} s, PyTorch {:.4g} s per step: {:.3f}\n", label, round + 1, armor_seconds,
               pytorch_seconds, ratios.back());
  }
  const auto middle = ratios.begin() + static_cast<std::ptrdiff_t>(ratios.size() / 2);
  std::nth_element(ratios.begin(), middle, ratios.end());
  report.add(label + "_speed_over_pytorch", *middle, "x", target);
}

armor::Registry& registry() {
  static armor::Registry* r = [] {
    auto* registry = new armor::Registry();
    armor::register_builtin_datasets(*registry);
    armor::PluginLoader(*registry).load_search_path({}, {ARMOR_BUILD_PLUGIN_DIR});
    return registry;
  }();
  return *r;
}

armor::Params params(armor::PluginKind kind, const std::string& name, const Changes& changes) {
  armor::Params p(to_string(kind));
  for (const auto& spec : registry().info(kind, name).params.specs()) p.set(spec.name, spec.default_value, "default");
  for (const auto& [key, value] : changes) p.set(key, value, "bench");
  return p;
}

std::shared_ptr<armor::Classifier> model(const std::string& name, const Changes& changes,
                                         const armor::DatasetInfo& data) {
  armor::ModelContext context;
  context.data = &data;
  context.make_gate = [](const armor::GateShape& shape) {
    return registry().gate("topk")(params(armor::PluginKind::gate, "topk", {}), shape);
  };
  return registry().model(name)(params(armor::PluginKind::model, name, changes), context);
}

const armor::DatasetInfo kCifar{"cifar10", 3, 32, 32, 10, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25}};
const armor::DatasetInfo kFashion{"fashion_mnist", 1, 28, 28, 10, {0.286}, {0.353}};
const Changes kSmallResnet{
    {"depth", std::int64_t{10}},          {"width_multiplier", 0.25}, {"stages", std::int64_t{3}},
    {"num_experts", std::int64_t{4}},     {"k", std::int64_t{1}},     {"moe_type", std::string("block")},
    {"moe_layers", std::string("layer3")}};

// ResNet-18 on 32x32 with layer4 a MoE of E = 4, k = 1 (moe_type "conv" or "block").
Changes resnet18_moe(const std::string& type) {
  return {{"depth", std::int64_t{18}},
          {"num_experts", std::int64_t{4}},
          {"k", std::int64_t{1}},
          {"moe_type", type},
          {"moe_layers", std::string("layer4")}};
}

// 0. The machine's single-precision matrix-multiply peak, GFLOP/s.
double matmul_peak(Report& report) {
  const torch::Tensor a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  const double seconds = median_seconds([&] { torch::mm(a, b); }, 2, 7);
  const double gflops = 2.0 * 2048.0 * 2048.0 * 2048.0 / seconds / 1e9;
  report.add("matmul_peak_fp32", gflops, "GFLOP/s");
  return gflops;
}

// 1-2. One SGD training step (forward, CE, backward, update) at batch 128.
void training_step(Report& report, const std::string& label, armor::Classifier& net, const armor::DatasetInfo& data,
                   double peak, const std::string& reference_workload, const std::string& target) {
  const torch::Tensor x = torch::rand({128, data.channels, data.height, data.width});
  const torch::Tensor y = torch::randint(data.num_classes, {128}, torch::kInt64);
  torch::optim::SGD optimizer(net.parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  net.train();
  const auto step = [&] {
    optimizer.zero_grad();
    torch::nn::functional::cross_entropy(net.forward(x), y).backward();
    optimizer.step();
  };
  const double seconds = median_seconds(step, 1, 3);
  double forward_flops = 0;
  {
    torch::NoGradGuard no_grad;
    armor::bench::FlopCounter counter;
    net.forward(x);
    forward_flops = counter.flops();
  }
  const double gflops = 3.0 * forward_flops / seconds / 1e9;  // backward ~ 2 forwards
  report.add("train_step_" + label + "_images_per_second", 128.0 / seconds, "images/s");
  report.add("train_step_" + label + "_gflops", gflops, "GFLOP/s");
  report.add("train_step_" + label + "_share_of_matmul_peak", gflops / peak, "fraction");
  side_by_side(report, "train_step_" + label, reference_workload, step, target);
}

// A gate with GAP-FC scores and a random balanced route, as a trained balanced gate would route.
class BenchGate : public armor::Gate {
 public:
  BenchGate(std::int64_t channels, std::int64_t experts, std::int64_t k) : k_(k) {
    router_ = register_module("router", armor::RoutingNetwork(armor::RoutingNetworkOptions(channels, experts)));
  }
  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.logits = router_(x);
    out.probs = torch::softmax(out.logits, 1);
    out.indices = std::get<1>(torch::rand_like(out.probs).topk(k_, 1));
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }

 private:
  std::int64_t k_;
  armor::RoutingNetwork router_{nullptr};
};

// 3. One MoE layer of BasicBlock experts (64 channels, 8x8, batch 128), forward + backward.
void moe_layer_scaling(Report& report) {
  const torch::Tensor x = torch::randn({128, 64, 8, 8});
  for (const std::int64_t k : {1, 2}) {
    std::vector<std::pair<std::int64_t, armor::MoeLayer>> layers;
    for (const std::int64_t experts : {1, 2, 4, 8, 16}) {
      if (k > experts) continue;
      armor::MoeLayer layer(
          armor::MoeLayerOptions(experts, k), std::make_shared<BenchGate>(64, experts, k),
          [&](std::int64_t) { return torch::nn::AnyModule(armor::BasicBlock(armor::BasicBlockOptions(64, 64))); });
      layer->train();
      layers.emplace_back(experts, layer);
    }
    const auto sparse_step = [&](armor::MoeLayer& layer) {
      layer->zero_grad();
      layer->forward(x).sum().backward();
    };
    // Steady state, as in training: random routing gives each expert a new batch size at first, and
    // each new size costs oneDNN a new primitive (cached after); 30 warm-up steps see most sizes.
    // Then the sparse steps interleaved, one of each E per round, and the median of 15 rounds: a
    // slow moment of the machine (a shared VM) slows every E alike instead of skewing E16/E1.
    for (auto& [experts, layer] : layers) median_seconds([&] { sparse_step(layer); }, 30, 1);
    // The kernels' own floor, timed in the same rounds: the same blocks without a MoE layer, one on
    // the whole batch and 16 on 8 images each (E = 16's mean sub-batch). What E16/E1 cannot go below
    // without changing the experts' kernels, since a convolution on 8 images does less per image.
    std::vector<armor::BasicBlock> blocks;
    for (int e = 0; e < 16; ++e) blocks.emplace_back(armor::BasicBlockOptions(64, 64));
    const auto blocks_step = [&](std::int64_t count) {
      torch::Tensor loss = torch::zeros({});
      const std::int64_t slice = x.size(0) / count;
      for (std::int64_t e = 0; e < count; ++e) {
        blocks[static_cast<std::size_t>(e)]->zero_grad();
        loss = loss + blocks[static_cast<std::size_t>(e)]->forward(x.narrow(0, e * slice, slice)).sum();
      }
      loss.backward();
    };
    for (const std::int64_t count : {1, 16}) median_seconds([&] { blocks_step(count); }, 10, 1);
    std::map<std::int64_t, std::vector<double>> rounds, floor_rounds;
    for (int round = 0; round < 15; ++round) {
      for (auto& [experts, layer] : layers) {
        const auto start = Clock::now();
        sparse_step(layer);
        rounds[experts].push_back(seconds_since(start));
      }
      if (k != 1) continue;
      for (const std::int64_t count : {1, 16}) {
        const auto start = Clock::now();
        blocks_step(count);
        floor_rounds[count].push_back(seconds_since(start));
      }
    }
    const auto median = [](std::vector<double> values) {
      std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
      return values[values.size() / 2];
    };
    std::map<std::int64_t, double> sparse;
    for (auto& [experts, times] : rounds) sparse[experts] = median(times);
    // The ratio round by round (E1 and E16 timed moments apart), then its median.
    std::vector<double> ratios, floor_ratios;
    if (k == 1) {
      for (std::size_t r = 0; r < rounds[1].size(); ++r) {
        ratios.push_back(rounds[16][r] / rounds[1][r]);
        floor_ratios.push_back(floor_rounds[16][r] / floor_rounds[1][r]);
      }
    }
    for (auto& [experts, layer] : layers) {
      const double dense = median_seconds(
          [&] {
            layer->zero_grad();
            layer->forward_dense(x).sum().backward();
          },
          1, 3);
      report.add(fmt::format("moe_layer_E{}_k{}_sparse", experts, k), sparse[experts] * 1e3, "ms");
      report.add(fmt::format("moe_layer_E{}_k{}_dense", experts, k), dense * 1e3, "ms");
    }
    if (k == 1) {
      report.add("moe_layer_k1_time_E16_over_E1", median(ratios), "x", "<= 1.3");
      report.add("blocks_1x128_images", median(floor_rounds[1]) * 1e3, "ms");
      report.add("blocks_16x8_images", median(floor_rounds[16]) * 1e3, "ms");
      report.add("blocks_16x8_images_over_1x128_images", median(floor_ratios), "x", "the kernels' floor of E16/E1");
    }
  }
}

// 4. A PGD-10 step against one forward+backward of the same batch.
// The standard attack-validity checks (64 images) against the quickstart's evaluation (clean and
// pgd20, eps 0.1, step 0.01, on its 1000 test images; timed on 250 and scaled by 4).
void eval_checks_cost(Report& report) {
  auto net = model("resnet", kSmallResnet, kFashion);
  net->eval();
  const torch::Tensor images = torch::randint(256, {250, 1, 28, 28}, torch::kInt64).to(torch::kUInt8);
  const torch::Tensor labels = torch::randint(10, {250}, torch::kInt64);
  const torch::Tensor x = images.to(torch::kFloat32).div(255.0);
  auto attack = registry().attack("pgd")(
      params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{20}}, {"step_size", 0.01}}));
  const double evaluation = 4.0 * median_seconds(
                                      [&] {
                                        {
                                          torch::NoGradGuard no_grad;
                                          net->forward(x);
                                        }
                                        attack->perturb(*net, x, labels);
                                      },
                                      1, 3);
  const armor::LabelledImages test{images, labels};
  const double checks =
      median_seconds([&] { armor::run_eval_checks(*net, test, torch::kCPU, armor::CheckLevel::standard); }, 1, 3);
  report.add("eval_checks_standard", checks * 1e3, "ms");
  report.add("eval_checks_standard_share_of_quickstart_eval", checks / evaluation, "fraction", "< 0.1");
}

void pgd_step(Report& report) {
  auto net = model("resnet", kSmallResnet, kFashion);
  net->eval();
  const torch::Tensor x = torch::rand({128, 1, 28, 28});
  const torch::Tensor y = torch::randint(10, {128}, torch::kInt64);
  const double pass = median_seconds(
      [&] {
        net->zero_grad();
        torch::nn::functional::cross_entropy(net->forward(x), y).backward();
      },
      1, 5);
  auto attack = registry().attack("pgd")(
      params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{10}}, {"step_size", 0.025}}));
  const auto perturb = [&] { attack->perturb(*net, x, y); };
  const double pgd = median_seconds(perturb, 1, 3);
  report.add("pgd10_step_over_forward_backward", pgd / 10.0 / pass, "x", "<= 1.1");
  side_by_side(report, "pgd10_step_quickstart_model", "pgd10_quickstart", perturb, "", 1, Rounds{7, 3});
}

// 4b. The same PGD-10 on the two ResNet-18 MoEs of 1-2 (eval mode, batch 128 of 3x32x32). One PGD-10
// there takes seconds, so 3 rounds of one call each side.
void pgd_step_resnet18(Report& report) {
  auto attack = registry().attack("pgd")(
      params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{10}}, {"step_size", 0.025}}));
  const torch::Tensor x = torch::rand({128, 3, 32, 32});
  const torch::Tensor y = torch::randint(10, {128}, torch::kInt64);
  for (const std::string type : {"conv", "block"}) {
    auto net = model("resnet", resnet18_moe(type), kCifar);
    net->eval();
    const auto perturb = [&] { attack->perturb(*net, x, y); };
    perturb();  // warm-up
    side_by_side(report, "pgd10_step_resnet18_" + type + "moe", "pgd10_resnet18_" + type + "moe", perturb, ">= 1.05", 1,
                 Rounds{3, 1});
  }
}

// ---- GPU (--device cuda) ----------------------------------------------------------------------

// The device's matrix-multiply peak, GFLOP/s: float32 (TF32 off), TF32 and bfloat16 (8192^2).
struct DevicePeaks {
  double fp32 = 0;
  double tf32 = 0;
  double bf16 = 0;
};

DevicePeaks device_peaks(Report& report) {
  const auto peak_of = [&](torch::ScalarType dtype, bool tf32) {
    at::globalContext().setAllowTF32CuBLAS(tf32);
    const auto options = torch::TensorOptions(bench_device).dtype(dtype);
    const torch::Tensor a = torch::randn({8192, 8192}, options), b = torch::randn({8192, 8192}, options);
    const double seconds = median_seconds([&] { torch::mm(a, b); }, 3, 10);
    return 2.0 * 8192.0 * 8192.0 * 8192.0 / seconds / 1e9;
  };
  DevicePeaks peaks;
  peaks.fp32 = peak_of(torch::kFloat32, false);
  peaks.tf32 = peak_of(torch::kFloat32, true);
  peaks.bf16 = peak_of(torch::kBFloat16, false);
  at::globalContext().setAllowTF32CuBLAS(false);  // LibTorch's and PyTorch's default for products
  report.add("gpu_matmul_peak_fp32", peaks.fp32, "GFLOP/s");
  report.add("gpu_matmul_peak_tf32", peaks.tf32, "GFLOP/s");
  report.add("gpu_matmul_peak_bf16", peaks.bf16, "GFLOP/s");
  return peaks;
}

// How a GPU figure runs: its batch, bfloat16 autocast, channels-last.
struct GpuVariant {
  std::int64_t batch = 128;
  bool bf16 = false;
  bool channels_last = false;
  std::string label() const {
    return "b" + std::to_string(batch) + (bf16 ? "_bf16" : "") + (channels_last ? "_channels_last" : "");
  }
  std::vector<std::string> reference_options() const {
    std::vector<std::string> options{"--device", bench_device.str(), "--batch", std::to_string(batch)};
    if (bf16) options.emplace_back("--bf16");
    if (channels_last) options.emplace_back("--channels-last");
    return options;
  }
};

// Every 4-d parameter and buffer of `net` in channels-last (NHWC) memory, as PyTorch's
// model.to(memory_format=torch.channels_last).
void to_channels_last(torch::nn::Module& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

// A ResNet-18 MoE's SGD training step and PGD-10 (as figures 1-2 and 4b) on the GPU, beside the PyTorch
// reference on the same GPU with the same variant; GFLOP/s from the counted forward FLOPs (training:
// x3 for the backward) and their share of the matching peak.
void gpu_figures(Report& report) {
  const DevicePeaks peaks = device_peaks(report);
  const std::vector<GpuVariant> training{{128, false, false}, {512, false, false}, {512, true, false}, {512, false, true}};
  const std::vector<GpuVariant> attacks{{128, false, false}, {512, false, false}, {512, true, false}};
  auto attack = registry().attack("pgd")(
      params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{10}}, {"step_size", 0.025}}));
  for (const std::string type : {"conv", "block"}) {
    const std::string network = "resnet18_" + type + "moe";
    for (const bool is_attack : {false, true}) {
      for (const GpuVariant& variant : is_attack ? attacks : training) {
        torch::manual_seed(0);
        auto net = model("resnet", resnet18_moe(type), kCifar);
        net->to(bench_device);
        if (variant.channels_last) to_channels_last(*net);
        torch::Tensor x = torch::rand({variant.batch, 3, 32, 32}, bench_device);
        if (variant.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
        const torch::Tensor y = torch::randint(10, {variant.batch}, torch::TensorOptions(bench_device).dtype(torch::kInt64));
        torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
        const auto train_step = [&] {
          optimizer.zero_grad();
          torch::nn::functional::cross_entropy(net->forward(x), y).backward();
          optimizer.step();
        };
        const auto pgd_step = [&] { attack->perturb(*net, x, y); };
        const std::function<void()> plain = is_attack ? std::function<void()>(pgd_step) : train_step;
        const std::function<void()> step = [&] {
          if (!variant.bf16) return plain();
          armor::compat::CudaAutocast autocast(torch::kBFloat16);
          plain();
        };
        if (is_attack) {
          net->eval();
        } else {
          net->train();
        }
        const std::string label = (is_attack ? "gpu_pgd10_" : "gpu_train_step_") + network + "_" + variant.label();
        const double seconds = median_seconds(step, 2, 5);
        double forward_flops = 0;
        {
          torch::NoGradGuard no_grad;
          armor::bench::FlopCounter counter;
          net->forward(x);
          forward_flops = counter.flops();
        }
        // Training: forward + backward (~2 forwards). PGD-10: 10 forwards and 10 input gradients (the
        // parameters frozen: ~1 forward each).
        const double flops = (is_attack ? 20.0 : 3.0) * forward_flops;
        const double peak = variant.bf16 ? peaks.bf16 : peaks.tf32;  // convolutions take TF32 by default
        report.add(label + "_images_per_second", static_cast<double>(variant.batch) / seconds, "images/s");
        report.add(label + "_gflops", flops / seconds / 1e9, "GFLOP/s");
        report.add(label + "_share_of_peak", flops / seconds / 1e9 / peak, "fraction");
        side_by_side(report, label, (is_attack ? "pgd10_" : "") + network, step, "", 1, Rounds{3, 3},
                     variant.reference_options());
      }
    }
  }
}

struct NullSink : armor::MetricSink {
  bool epoch_end(int, const armor::MetricValues&) override { return true; }
};

// 5. RT-ER against PGD-AT on the same output-level MoE (E = 4 small ResNet experts), PGD-10.
void rt_er_step(Report& report) {
  armor::Params data_params = params(armor::PluginKind::dataset, "synthetic",
                                     {{"train_size", std::int64_t{512}}, {"image_size", std::int64_t{28}}});
  const auto data = registry().dataset("synthetic")(data_params);
  auto attack = registry().attack("pgd")(
      params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}, {"steps", std::int64_t{10}}, {"step_size", 0.025}}));
  const Changes moe{{"expert", std::string("resnet")},
                    {"expert_params", std::string("depth = 10, width_multiplier = 0.25, stages = 2")},
                    {"num_experts", std::int64_t{4}}};
  setenv("ARMOR_PROGRESS", "off", 1);  // the trainers' progress lines are not figures
  double seconds[2] = {0, 0};
  const std::string trainers[2] = {"pgd_at", "rt_er"};
  for (int i = 0; i < 2; ++i) {
    torch::manual_seed(0);
    armor::ModelContext context;
    context.data = &data->info;
    context.make_gate = [](const armor::GateShape& shape) {
      return registry().gate("linear_router")(params(armor::PluginKind::gate, "linear_router", {}), shape);
    };
    auto net = registry().model("output_moe")(params(armor::PluginKind::model, "output_moe", moe), context);
    auto trainer = registry().trainer(trainers[i])(params(
        armor::PluginKind::trainer, trainers[i], {{"epochs", std::int64_t{1}}, {"batch_size", std::int64_t{128}}}));
    NullSink sink;
    armor::BalancingTerm balancing;
    armor::TrainContext ctx{*net, data->train, torch::kCPU, attack.get(), balancing, sink, 0};
    trainer->fit(ctx);  // warm-up: oneDNN's primitives for every batch size the experts see
    const auto start = Clock::now();
    trainer->fit(ctx);
    seconds[i] = seconds_since(start) / 4.0;  // 4 steps of 128
  }
  unsetenv("ARMOR_PROGRESS");
  // Expected: per image, PGD-AT = 10 attack passes + 1 update pass through the image's expert (top-1);
  // RT-ER adds a PGD-10 on its runner-up expert and that expert's clean and adversarial passes in
  // the update: (11 + 12) / 11 = 2.1.
  report.add("rt_er_step_over_pgd_at_step", seconds[1] / seconds[0], "x", "~2.1 expected");
}

struct Shell {
  std::string output;
  double seconds;
};

Shell shell(const std::string& command) {
  const auto start = Clock::now();
  Shell result{"", 0};
  if (FILE* pipe = popen((command + " 2>&1").c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) result.output += buffer;
    pclose(pipe);
  }
  result.seconds = seconds_since(start);
  return result;
}

// 5b. The quickstart's fast-AT training step (experiments/quickstart.toml: fast_at with pgd's eps 0.1,
// switch balancing at 0.5, SGD Nesterov with the cyclic schedule) through armor's own epoch loop
// (loader thread, balancing term, schedule, host reads), beside the plain-PyTorch reference's.
void fast_at_step(Report& report) {
  armor::Params data_params = params(armor::PluginKind::dataset, "synthetic",
                                     {{"train_size", std::int64_t{512}}, {"image_size", std::int64_t{28}}});
  const auto data = registry().dataset("synthetic")(data_params);
  torch::manual_seed(0);
  auto net = model("resnet", kSmallResnet, data->info);
  auto attack = registry().attack("pgd")(params(armor::PluginKind::attack, "pgd", {{"eps", 0.1}}));
  armor::BalancingTerm balancing(registry().balancing("switch")(params(armor::PluginKind::balancing, "switch", {})),
                                 0.5);
  auto trainer = registry().trainer("fast_at")(params(armor::PluginKind::trainer, "fast_at",
                                                      {{"epochs", std::int64_t{1}},
                                                       {"batch_size", std::int64_t{128}},
                                                       {"lr", 0.2},
                                                       {"schedule", std::string("cyclic")},
                                                       {"nesterov", true},
                                                       {"weight_decay", 5e-4}}));
  NullSink sink;
  armor::TrainContext ctx{*net, data->train, torch::kCPU, attack.get(), balancing, sink, 0};
  setenv("ARMOR_PROGRESS", "off", 1);
  const auto fit = [&] { trainer->fit(ctx); };
  fit();  // warm-up
  // 11 rounds: a step is 0.1 s, and one round's ratio moves by +-15 % on a shared 2-core machine.
  side_by_side(report, "fast_at_step_quickstart_model", "quickstart", fit, ">= 1.25", /*armor_steps_per_call=*/4,
               Rounds{11, 3});
  unsetenv("ARMOR_PROGRESS");
}

// 5c. The real epoch: `armor run experiments/quickstart.toml` on the first 12 800 Fashion-MNIST
// images for one epoch, its recorded images_per_second, against 100 steps (12 800 images) of the
// PyTorch reference's fast-AT step, 3 rounds interleaved. armor's figure is the epoch's mean (loader,
// progress, bookkeeping and all), PyTorch's the median step over in-memory batches.
void real_epoch(Report& report, const fs::path& scratch) {
  std::optional<PythonReference> reference;
  try {
    reference.emplace("quickstart", torch::get_num_threads());
  } catch (const std::exception& error) {
    fmt::print("quickstart_epoch_over_pytorch: skipped: {}\n", error.what());
    return;
  }
  const std::string armor = std::string(ARMOR_BUILD_DIR) + "/armor";
  const std::string experiment = std::string(ARMOR_SOURCE_DIR) + "/experiments/quickstart.toml";
  std::vector<double> ratios;
  for (int round = 0; round < 3; ++round) {
    const fs::path db = scratch / fmt::format("epoch{}.db", round);
    const auto armor_epoch = [&] {
      const Shell run = shell(fmt::format(
          "{} run {} data.train_limit=12800 data.test_limit=100 trainer.epochs=1 run.threads={} --db {} --outputs {}",
          armor, experiment, torch::get_num_threads(), db.string(), (scratch / "epoch_outputs").string()));
      const Shell figure = shell(armor + " db sql \"SELECT value FROM epoch_metrics WHERE key = 'images_per_second'\"" +
                                 " --format plain --db " + db.string());
      const std::size_t line = figure.output.find('\n');
      if (line == std::string::npos) throw std::runtime_error("no images_per_second from: " + run.output);
      return std::stod(figure.output.substr(line + 1));
    };
    double armor_images = 0, pytorch_images = 0;
    if (round % 2 == 0) {
      armor_images = armor_epoch();
      pytorch_images = 128.0 / reference->round(100);
    } else {
      pytorch_images = 128.0 / reference->round(100);
      armor_images = armor_epoch();
    }
    ratios.push_back(armor_images / pytorch_images);
    fmt::print("  quickstart_epoch round {}: armor {:.0f} images/s, PyTorch {:.0f} images/s: {:.3f}\n", round + 1,
               armor_images, pytorch_images, ratios.back());
  }
  std::nth_element(ratios.begin(), ratios.begin() + 1, ratios.end());
  report.add("quickstart_epoch_speed_over_pytorch", ratios[1], "x", ">= 1.15");
}

// 6. Host overhead, through the armor program itself.
void host_overhead(Report& report, const fs::path& scratch) {
  const std::string armor = std::string(ARMOR_BUILD_DIR) + "/armor";
  const std::string experiment = std::string(ARMOR_SOURCE_DIR) + "/experiments/quickstart.toml";
  double startup = 1e9, sweep = 1e9;
  double floor = 1e9;
  for (int i = 0; i < 3; ++i) {
    startup = std::min(startup, shell(armor + " plugins > /dev/null").seconds);
    floor = std::min(floor, shell(std::string(ARMOR_BUILD_DIR) + "/tools/armor_torch_floor").seconds);
  }
  report.add("startup_with_all_plugins", startup * 1e3, "ms", "< 300");
  report.add("startup_libtorch_alone", floor * 1e3, "ms");
  report.add("startup_armor_above_libtorch", std::max(0.0, startup - floor) * 1e3, "ms");
  // Composing 100 runs against composing one, both through `armor config` (the same start-up), the
  // fastest of 7 each: start-up varies by tens of milliseconds, the fastest much less.
  const std::string hundred = " --multirun model.num_experts=1,2,4,8,16 model.k=1,2 'run.seed=range(0,10)'";
  double single = 1e9;
  for (int i = 0; i < 7; ++i) {
    sweep = std::min(sweep, shell(armor + " config " + experiment + hundred + " > /dev/null").seconds);
    single = std::min(single, shell(armor + " config " + experiment + " > /dev/null").seconds);
  }
  report.add("compose_100_run_sweep", std::max(0.0, sweep - single) * 100.0 / 99.0 * 1e3, "ms", "< 50");
  // The quickstart as it ships (all 60 000 training images, PGD-20 on 1 000 test images), for one epoch.
  const Shell run = shell(armor + " run " + experiment + " trainer.epochs=1 --db " +
                          (scratch / "overhead.db").string() + " --outputs " + (scratch / "outputs").string());
  // The work: per progress label ("epoch 1/1", "eval clean", ...) the seconds of its 100% line
  // (a label can print that line twice: its last update and its finish).
  std::map<std::string, double> work_by_label;
  const std::regex done(R"(([^\n]*?) \[#+\] 100%\s+([0-9.]+)s)");
  for (auto it = std::sregex_iterator(run.output.begin(), run.output.end(), done); it != std::sregex_iterator(); ++it) {
    double& seconds = work_by_label[(*it)[1]];
    seconds = std::max(seconds, std::stod((*it)[2]));
  }
  double work = 0;
  for (const auto& [label, seconds] : work_by_label) work += seconds;
  report.add("one_epoch_run_wall", run.seconds, "s");
  report.add("one_epoch_run_outside_train_and_eval", std::max(0.0, run.seconds - work), "s");
  report.add("one_epoch_run_share_outside_train_and_eval", std::max(0.0, run.seconds - work) / run.seconds, "fraction",
             "< 0.05");
}

// 7. runs.db: one epoch's metrics of 100 runs, then 8 processes writing at once.
void store_writes(Report& report, const fs::path& scratch) {
  const std::string db = (scratch / "store.db").string();
  std::vector<std::int64_t> ids;
  {
    armor::RunStore store(db);
    std::vector<armor::NewRun> runs(100);
    for (int i = 0; i < 100; ++i) runs[static_cast<std::size_t>(i)].index = i;
    ids = store.queue().add_sweep({"bench", "bench.toml", ""}, runs).second;
    const auto start = Clock::now();
    for (const std::int64_t id : ids) {
      store.records().record_epoch_metrics(id, 1,
                                           {{"train_loss", 0.5}, {"train_acc", 0.8}, {"lr", 0.1}, {"seconds", 3.0}});
    }
    report.add("store_one_epoch_of_100_runs", seconds_since(start) * 1e3, "ms");
  }
  std::vector<pid_t> children;
  const auto start = Clock::now();
  for (int p = 0; p < 8; ++p) {
    const pid_t pid = fork();
    if (pid == 0) {
      int locked = 0;
      armor::RunStore store(db);
      for (int epoch = 2; epoch < 12; ++epoch) {
        for (int r = p; r < 100; r += 8) {
          try {
            store.records().record_epoch_metrics(ids[static_cast<std::size_t>(r)], epoch,
                                                 {{"train_loss", 0.5}, {"seconds", 3.0}});
          } catch (const std::exception& error) {
            if (std::string(error.what()).find("locked") != std::string::npos) ++locked;
          }
        }
      }
      _exit(std::min(locked, 255));
    }
    children.push_back(pid);
  }
  int locked = 0;
  for (const pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    locked += WIFEXITED(status) ? WEXITSTATUS(status) : 1000;
  }
  report.add("store_8_writers_125_epoch_rows_each_wall", seconds_since(start) * 1e3, "ms");
  report.add("store_8_writers_database_is_locked_failures", locked, "count", "0");
}

// 8. Start-up of the commands that train nothing (they never load LibTorch) and of one that loads
// the run side, the fastest of 9 each: `armor db list` on the 100-run database of section 7,
// `armor config` of the quickstart (manifests up to date: the first call writes them).
void command_startup(Report& report, const fs::path& scratch) {
  const std::string armor = std::string(ARMOR_BUILD_DIR) + "/armor";
  const std::string db = (scratch / "store.db").string();
  const std::string experiment = std::string(ARMOR_SOURCE_DIR) + "/experiments/quickstart.toml";
  shell(armor + " config " + experiment + " > /dev/null");
  const std::vector<std::pair<std::string, std::string>> commands{
      {"startup_help", armor + " --help"},
      {"startup_db_list_100_runs", armor + " db list --db " + db},
      {"startup_config_quickstart", armor + " config " + experiment},
      {"startup_sweep_status", armor + " sweep status 1 --db " + db},
      {"startup_plugins_loads_run_side", armor + " plugins"},
  };
  for (const auto& [name, command] : commands) {
    double best = 1e9;
    for (int i = 0; i < 9; ++i) best = std::min(best, shell(command + " > /dev/null").seconds);
    report.add(name, best * 1e3, "ms", name == "startup_plugins_loads_run_side" ? "" : "< 50");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const armor::HostAllocatorTuning heap = armor::keep_freed_memory_in_heap();  // as armor's main()
  std::string json = "bench.json";
  int threads = 0;
  std::string only;
  const auto usage = [](std::FILE* to) {
    fmt::print(to,
               "usage: armor_bench [--json FILE] [--threads N] [--only startup|checks|speed|fast_at|epoch]\n"
               "                   [--pytorch-heap default|same] [--device cuda|cuda:N]\n"
               "  prints one line per figure (`name value unit`) and writes them all to FILE (default bench.json);\n"
               "  N threads for LibTorch (default: every core). About 13 minutes on 2 cores\n"
               "  (the PyTorch side by side needs /usr/bin/python3 with python3-torch; skipped without it).\n"
               "  --only startup: the runs.db and command start-up figures alone (seconds).\n"
               "  --only checks: the cost of the standard attack-validity checks alone (seconds).\n"
               "  --only speed: the figures side by side with plain PyTorch and the MoE layer's scaling.\n"
               "  --only fast_at: the quickstart's fast-AT step side by side with plain PyTorch alone.\n"
               "  --only epoch: a real 12 800-image epoch of `armor run experiments/quickstart.toml` against\n"
               "  the same images through the PyTorch reference's step (needs dataset-fashion-mnist).\n"
               "  --pytorch-heap same: the PyTorch reference keeps freed memory in its heap as armor does\n"
               "  (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_); default: glibc's defaults, as a user runs it.\n"
               "  ARMOR_MALLOC_TUNING=off: armor's side keeps glibc's defaults instead.\n"
               "  --device cuda: the GPU figures alone: the GPU's matmul peaks (fp32, TF32, bf16), then the\n"
               "  ResNet-18 Conv/BlockMoE training step (batch 128, 512; bf16 autocast; channels-last) and PGD-10\n"
               "  (128, 512; bf16) on the GPU, each beside the PyTorch reference on the same GPU (its Python:\n"
               "  ARMOR_BENCH_PYTHON, default /usr/bin/python3), GFLOP/s and share of the peak.\n");
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      usage(stdout);
      return 0;
    }
    const bool known =
        flag == "--json" || flag == "--threads" || flag == "--only" || flag == "--pytorch-heap" || flag == "--device";
    if (!known || i + 1 >= argc) {
      fmt::print(stderr, "armor_bench: {} '{}'\n", known ? "missing value after" : "unknown argument", flag);
      usage(stderr);
      return 2;
    }
    const std::string value = argv[++i];
    if (flag == "--json") {
      json = value;
    } else if (flag == "--only") {
      if (value != "startup" && value != "checks" && value != "speed" && value != "fast_at" && value != "epoch") {
        fmt::print(stderr, "armor_bench: --only knows startup, checks, speed, fast_at and epoch, got '{}'\n", value);
        return 2;
      }
      only = value;
    } else if (flag == "--pytorch-heap") {
      if (value != "default" && value != "same") {
        fmt::print(stderr, "armor_bench: --pytorch-heap takes default or same, got '{}'\n", value);
        return 2;
      }
      pytorch_same_heap = value == "same";
    } else if (flag == "--device") {
      try {
        bench_device = torch::Device(value);
      } catch (const c10::Error&) {
        fmt::print(stderr, "armor_bench: --device takes cuda or cuda:N, got '{}'\n", value);
        return 2;
      }
      if (!bench_device.is_cuda()) {
        fmt::print(stderr, "armor_bench: --device takes cuda or cuda:N (the CPU figures need no --device), got '{}'\n",
                   value);
        return 2;
      }
      if (!torch::cuda::is_available()) {
        fmt::print(stderr, "armor_bench: --device {}: this LibTorch has no CUDA or sees no GPU\n", value);
        return 2;
      }
    } else {
      threads = std::atoi(value.c_str());
      if (threads <= 0) {
        fmt::print(stderr, "armor_bench: --threads wants a positive whole number, got '{}'\n", value);
        return 2;
      }
    }
  }
  torch::set_num_threads(threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  torch::manual_seed(0);
  const fs::path scratch = fs::temp_directory_path() / ("armor_bench_" + std::to_string(getpid()));
  fs::create_directories(scratch);
  Report report;
  report.add("threads", torch::get_num_threads(), "count");
  report.add("armor_keeps_freed_memory_in_heap", heap.applied ? 1 : 0, "bool");
  report.add("pytorch_keeps_freed_memory_in_heap", pytorch_same_heap ? 1 : 0, "bool");
  if (bench_device.is_cuda()) {
    gpu_figures(report);
    report.write_json(json);
    fs::remove_all(scratch);
    fmt::print("wrote {}\n", json);
    return 0;
  }
  if (only == "checks") {
    eval_checks_cost(report);
    report.write_json(json);
    fs::remove_all(scratch);
    fmt::print("wrote {}\n", json);
    return 0;
  }
  if (only == "startup") {
    store_writes(report, scratch);
    command_startup(report, scratch);
    report.write_json(json);
    fs::remove_all(scratch);
    fmt::print("wrote {}\n", json);
    return 0;
  }
  if (only == "fast_at" || only == "epoch") {
    if (only == "fast_at") fast_at_step(report);
    if (only == "epoch") real_epoch(report, scratch);
    report.write_json(json);
    fs::remove_all(scratch);
    fmt::print("wrote {}\n", json);
    return 0;
  }
  const double peak = matmul_peak(report);
  {
    auto net = model("resnet", kSmallResnet, kFashion);
    training_step(report, "quickstart_model_28px", *net, kFashion, peak, "quickstart_sgd", "");
  }
  for (const std::string type : {"conv", "block"}) {
    auto net = model("resnet", resnet18_moe(type), kCifar);
    training_step(report, "resnet18_" + type + "moe_32px", *net, kCifar, peak, "resnet18_" + type + "moe", ">= 1.05");
  }
  moe_layer_scaling(report);
  pgd_step(report);
  pgd_step_resnet18(report);
  if (only == "speed") {
    fast_at_step(report);
    real_epoch(report, scratch);
    report.write_json(json);
    fs::remove_all(scratch);
    fmt::print("wrote {}\n", json);
    return 0;
  }
  eval_checks_cost(report);
  rt_er_step(report);
  fast_at_step(report);
  real_epoch(report, scratch);
  host_overhead(report, scratch);
  store_writes(report, scratch);
  command_startup(report, scratch);
  report.write_json(json);
  fs::remove_all(scratch);
  fmt::print("wrote {}\n", json);
  return 0;
}
