#include "armor/nn/routing_network.h"

#include <algorithm>

#include <torch/torch.h>

namespace armor {

const std::vector<std::string>& routing_network_kinds() {
  static const std::vector<std::string> kinds{"gap_fc", "conv_gap", "2conv_gap", "linear"};
  return kinds;
}

RoutingNetworkImpl::RoutingNetworkImpl(RoutingNetworkOptions options_) : options(std::move(options_)) {
  const auto& kinds = routing_network_kinds();
  TORCH_CHECK(std::find(kinds.begin(), kinds.end(), options.kind()) != kinds.end(),
              "RoutingNetwork: kind must be gap_fc, conv_gap, 2conv_gap or linear (got '", options.kind(), "')");
  TORCH_CHECK(options.kind() != "linear" || !options.input_shape().empty(),
              "RoutingNetwork: kind 'linear' needs the input shape of one image");
  reset();
}

void RoutingNetworkImpl::reset() {
  namespace nn = torch::nn;
  const std::int64_t c = options.in_channels();
  const std::int64_t e = options.num_experts();
  if (options.kind() == "gap_fc") {
    fc = register_module("fc", nn::Linear(c, e));
  } else if (options.kind() == "linear") {
    std::int64_t features = 1;
    for (const std::int64_t d : options.input_shape()) features *= d;
    fc = register_module("fc", nn::Linear(features, e));
  } else if (options.kind() == "conv_gap") {
    conv1 = register_module("conv", nn::Conv2d(nn::Conv2dOptions(c, e, 3).bias(false)));
  } else {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(c, 8, 1).bias(false)));
    bn = register_module("bn", nn::BatchNorm2d(8));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(8, e, 1).bias(false)));
  }
}

torch::Tensor RoutingNetworkImpl::forward(const torch::Tensor& x) {
  const std::string& kind = options.kind();
  if (kind == "linear") return fc(x.flatten(1));
  if (kind == "gap_fc") return fc(x.dim() > 2 ? x.flatten(2).mean(2) : x);
  TORCH_CHECK(x.dim() == 4, "RoutingNetwork '", kind, "': input must be [N,C,H,W] (got ", x.sizes(), ")");
  const torch::Tensor h = kind == "conv_gap" ? conv1(x) : conv2(bn(conv1(x)));
  return h.mean({2, 3});
}

void RoutingNetworkImpl::pretty_print(std::ostream& stream) const {
  stream << "armor::RoutingNetwork(" << options.kind() << ", " << options.in_channels() << " -> "
         << options.num_experts() << ")";
}

}  // namespace armor
