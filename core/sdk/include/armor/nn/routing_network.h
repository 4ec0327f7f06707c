#pragma once
// RoutingNetwork: the networks of paper 2 that score the experts of a MoE layer (ALGORITHMS.md §1).
// forward: x [N,C,H,W] (or [N,C] for gap_fc) -> logits [N,E]; the gate applies the softmax.
//   gap_fc     global average pool -> Linear(C,E)                                  (the default)
//   conv_gap   Conv(C->E, 3x3, no padding, no bias) -> global average pool           (needs H,W >= 3)
//   2conv_gap  Conv(C->8, 1x1, no bias) -> BN(8) -> Conv(8->E, 1x1, no bias) -> global average pool
//              (the released DoubleConvGlobalAvgRoutingNetwork with its configs' 1x1 kernels; no ReLU)
// Weights keep PyTorch's default initialisation, as in the released code.
//   linear     Linear(prod(input_shape), E) on the flattened input (paper 1's router)

#include <cstdint>
#include <string>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

namespace armor {

struct RoutingNetworkOptions {
  RoutingNetworkOptions(std::int64_t in_channels, std::int64_t num_experts)
      : in_channels_(in_channels), num_experts_(num_experts) {}
  TORCH_ARG(std::int64_t, in_channels);
  TORCH_ARG(std::int64_t, num_experts);
  TORCH_ARG(std::string, kind) = "gap_fc";
  TORCH_ARG(std::vector<std::int64_t>, input_shape) = {};  // one image's shape, for kind = "linear"
};

// The kinds above, for parameter choices.
const std::vector<std::string>& routing_network_kinds();

class RoutingNetworkImpl : public torch::nn::Cloneable<RoutingNetworkImpl> {
 public:
  explicit RoutingNetworkImpl(RoutingNetworkOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  RoutingNetworkOptions options;
  torch::nn::Linear fc{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};

TORCH_MODULE(RoutingNetwork);

}  // namespace armor
