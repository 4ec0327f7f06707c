// bench_moe_layer: forward+backward time of one MoE layer (BasicBlock experts, GAP-FC gate, k = 1)
// for E = 1, 4, 16, and the ratio time(E=16) / time(E=1). Sparse dispatch makes the cost grow
// with k, not with E; the dense reference (every expert on every image) is timed for comparison.
// Prints `name value unit` lines. Usage: bench_moe_layer [batch=128] [channels=64] [size=8] [threads=1]

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/nn/basic_block.h"
#include "armor/nn/gate.h"
#include "armor/nn/moe_layer.h"
#include "armor/nn/routing_network.h"

namespace {

// GAP-FC scores; the route is drawn at random (balanced in expectation), as a trained balanced gate would.
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

// Median milliseconds of `iterations` calls after `warmup` calls.
template <typename F>
double median_ms(F&& step, int warmup, int iterations) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> times;
  for (int i = 0; i < iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(times.begin(), times.begin() + iterations / 2, times.end());
  return times[static_cast<std::size_t>(iterations / 2)];
}

}  // namespace

int main(int argc, char** argv) {
  auto arg = [&](int i, std::int64_t fallback) { return argc > i ? std::atoll(argv[i]) : fallback; };
  const std::int64_t batch = arg(1, 128), channels = arg(2, 64), size = arg(3, 8);
  torch::set_num_threads(static_cast<int>(arg(4, 1)));
  torch::manual_seed(0);
  const torch::Tensor x = torch::randn({batch, channels, size, size});
  fmt::print("batch {} images\nchannels {} count\nsize {} pixels\nthreads {} count\n", batch, channels, size,
             torch::get_num_threads());
  double time_e1 = 0, time_e16 = 0;
  for (const std::int64_t experts : {1, 4, 16}) {
    armor::MoeLayer layer(armor::MoeLayerOptions(experts, 1), std::make_shared<BenchGate>(channels, experts, 1),
                          [&](std::int64_t) { return torch::nn::AnyModule(armor::BasicBlock(armor::BasicBlockOptions(channels, channels))); });
    layer->train();
    const double sparse = median_ms([&] { layer->zero_grad(); layer->forward(x).sum().backward(); }, 3, 15);
    fmt::print("moe_forward_backward_E{}_k1 {:.2f} ms\n", experts, sparse);
    if (experts == 16) {
      const double dense = median_ms([&] { layer->zero_grad(); layer->forward_dense(x).sum().backward(); }, 1, 5);
      fmt::print("dense_reference_forward_backward_E16_k1 {:.2f} ms\n", dense);
    }
    if (experts == 1) time_e1 = sparse;
    if (experts == 16) time_e16 = sparse;
  }
  fmt::print("ratio_E16_over_E1 {:.2f} x\n", time_e16 / time_e1);
  return 0;
}
