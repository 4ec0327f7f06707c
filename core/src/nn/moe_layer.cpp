#include "armor/nn/moe_layer.h"

#include <torch/torch.h>

#include "armor/error.h"

namespace armor {

MoeLayerImpl::MoeLayerImpl(MoeLayerOptions options, std::shared_ptr<Gate> gate,
                           const std::function<torch::nn::AnyModule(std::int64_t)>& make_expert)
    : options_(options), gate_(std::move(gate)) {
  TORCH_CHECK(options_.num_experts() >= 1, "MoeLayer: num_experts must be >= 1 (got ", options_.num_experts(), ")");
  TORCH_CHECK(options_.k() >= 1 && options_.k() <= options_.num_experts(),
              "MoeLayer: k must be in [1, num_experts = ", options_.num_experts(), "] (got ", options_.k(), ")");
  TORCH_CHECK(gate_ != nullptr, "MoeLayer: a gate is required");
  register_module("gate", gate_);
  for (std::int64_t e = 0; e < options_.num_experts(); ++e) {
    experts_.push_back(make_expert(e));
    register_module("expert" + std::to_string(e), experts_.back().ptr());
  }
}

void MoeLayerImpl::set_fixed_expert(std::optional<std::int64_t> expert) {
  TORCH_CHECK(!expert || (*expert >= 0 && *expert < options_.num_experts()),
              "MoeLayer: fixed expert must be in [0, ", options_.num_experts(), ") (got ", *expert, ")");
  fixed_expert_ = expert;
}

torch::Tensor MoeLayerImpl::forward(const torch::Tensor& x) {
  if (fixed_expert_) {
    last_routing_ = GateOutput{};
    return experts_[static_cast<std::size_t>(*fixed_expert_)].forward(x);
  }
  last_routing_ = gate_->forward(x);
  return dispatch(x, last_routing_);
}

torch::Tensor MoeLayerImpl::dispatch(const torch::Tensor& x, const GateOutput& routing) {
  const std::int64_t n = x.size(0);
  const std::int64_t k = routing.indices.size(1);
  // Sort the N*k (image, expert) pairs by expert once: one host sync for the counts, instead of
  // one per expert.
  const torch::Tensor flat_experts = routing.indices.reshape({-1});
  const torch::Tensor order = flat_experts.argsort();
  const torch::Tensor sorted_images = order.div(k, "floor");
  const torch::Tensor counts = torch::bincount(flat_experts, {}, options_.num_experts()).cpu();
  const auto* count = counts.data_ptr<std::int64_t>();

  torch::Tensor output;
  std::int64_t start = 0;
  for (std::int64_t e = 0; e < options_.num_experts(); ++e) {
    const std::int64_t routed = count[e];
    if (routed == 0) continue;
    const torch::Tensor images = sorted_images.narrow(0, start, routed);
    start += routed;
    torch::Tensor y = experts_[static_cast<std::size_t>(e)].forward(x.index_select(0, images));
    const torch::Tensor w = routing.weights.index_select(0, images).select(1, e);
    std::vector<std::int64_t> shape(static_cast<std::size_t>(y.dim()), 1);
    shape[0] = routed;
    y = y * w.view(shape);
    if (!output.defined()) {
      std::vector<std::int64_t> out_shape = y.sizes().vec();
      out_shape[0] = n;
      output = torch::zeros(out_shape, y.options());
    }
    output = output.index_add(0, images, y);
  }
  return output;
}

torch::Tensor MoeLayerImpl::forward_dense(const torch::Tensor& x) {
  const GateOutput routing = gate_->forward(x);
  torch::Tensor output;
  for (std::int64_t e = 0; e < options_.num_experts(); ++e) {
    torch::Tensor y = experts_[static_cast<std::size_t>(e)].forward(x);
    std::vector<std::int64_t> shape(static_cast<std::size_t>(y.dim()), 1);
    shape[0] = y.size(0);
    y = y * routing.weights.select(1, e).view(shape);
    output = output.defined() ? output + y : y;
  }
  return output;
}

void MoeLayerImpl::pretty_print(std::ostream& stream) const {
  stream << "armor::MoeLayer(num_experts=" << options_.num_experts() << ", k=" << options_.k() << ")";
}

}  // namespace armor
