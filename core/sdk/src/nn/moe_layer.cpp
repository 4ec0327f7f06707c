#include "armor/nn/moe_layer.h"

#include <torch/torch.h>

#include "armor/error.h"

namespace armor {
namespace {

// w [n] -> [n,1,...,1] to broadcast over an output of `dims` dimensions.
torch::Tensor per_image(const torch::Tensor& w, std::int64_t dims) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(dims), 1);
  shape[0] = w.size(0);
  return w.view(shape);
}

// The layer's one runtime guard of its shape. A config never gets here with a bad k: the declared
// constraint of armor::moe_params() refuses it first, as a ConfigError; this is for code that
// builds a layer itself.
const MoeLayerOptions& checked(const MoeLayerOptions& options) {
  TORCH_CHECK(options.num_experts() >= 1, "MoeLayer: num_experts must be >= 1 (got ", options.num_experts(), ")");
  TORCH_CHECK(options.k() >= 1 && options.k() <= options.num_experts(),
              "MoeLayer: k must be in [1, num_experts = ", options.num_experts(), "] (got ", options.k(), ")");
  return options;
}

}  // namespace

GateShape MoeLayerOptions::gate_shape() const {
  GateShape shape;
  shape.in_channels = in_channels();
  shape.num_experts = num_experts();
  shape.k = k();
  shape.input_shape = input_shape();
  return shape;
}

MoeLayerImpl::MoeLayerImpl(MoeLayerOptions options, const MakeGate& make_gate, const MakeExpert& make_expert)
    : MoeLayerImpl(options, make_gate(checked(options).gate_shape()), make_expert) {}

MoeLayerImpl::MoeLayerImpl(MoeLayerOptions options, std::shared_ptr<Gate> gate, const MakeExpert& make_expert)
    : options_(checked(options)), gate_(std::move(gate)) {
  TORCH_CHECK(gate_ != nullptr, "MoeLayer: a gate is required");
  register_module("gate", gate_);
  for (std::int64_t e = 0; e < options_.num_experts(); ++e) {
    experts_.push_back(make_expert(e));
    register_module("expert" + std::to_string(e), experts_.back().ptr());
  }
}

void MoeLayerImpl::set_fixed_expert(std::optional<std::int64_t> expert) {
  TORCH_CHECK(!expert || (*expert >= 0 && *expert < options_.num_experts()), "MoeLayer: fixed expert must be in [0, ",
              options_.num_experts(), ") (got ", expert.value_or(-1), ")");
  fixed_expert_ = expert;
}

torch::Tensor MoeLayerImpl::forward(const torch::Tensor& x) {
  if (fixed_expert_) {
    const std::int64_t n = x.size(0);
    const auto long_options = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
    last_routing_ = GateOutput{};
    last_routing_.indices = torch::full({n, 1}, *fixed_expert_, long_options);
    last_routing_.weights =
        torch::zeros({n, options_.num_experts()}, x.options()).index_fill_(1, last_routing_.indices[0], 1.0);
    last_counts_.assign(static_cast<std::size_t>(options_.num_experts()), 0);
    last_counts_[static_cast<std::size_t>(*fixed_expert_)] = n;
    return experts_[static_cast<std::size_t>(*fixed_expert_)].forward(x);
  }
  if (held_routing_) return forward_routed(x, *held_routing_);
  last_routing_ = gate_->forward(x);
  return dispatch(x, last_routing_);
}

torch::Tensor MoeLayerImpl::forward_routed(const torch::Tensor& x, const GateOutput& routing) {
  TORCH_CHECK(routing.indices.dim() == 2 && routing.indices.size(0) == x.size(0) && routing.weights.dim() == 2 &&
                  routing.weights.size(0) == x.size(0) && routing.weights.size(1) == options_.num_experts(),
              "MoeLayer: a held routing needs indices [N,k] and weights [N,E] for N = ", x.size(0),
              ", E = ", options_.num_experts(), " (got ", routing.indices.sizes(), " and ", routing.weights.sizes(),
              ")");
  last_routing_ = routing;
  return dispatch(x, last_routing_);
}

torch::Tensor MoeLayerImpl::dispatch(const torch::Tensor& x, const GateOutput& routing) {
  const std::int64_t experts = options_.num_experts();
  const std::int64_t k = options_.k();
  TORCH_CHECK(routing.indices.dim() == 2 && routing.indices.size(1) == k, "MoeLayer: the routing must choose k = ", k,
              " experts per image, indices [N,", k, "] (got ", routing.indices.sizes(), ")");
  // Sort the N*k (image, expert) pairs by expert once; the counts are the forward's one host sync.
  const torch::Tensor flat_experts = routing.indices.reshape({-1});
  const torch::Tensor order = flat_experts.argsort();
  const torch::Tensor sorted_images = order.div(k, "floor");
  const torch::Tensor device_counts = torch::bincount(flat_experts, {}, experts);
  const torch::Tensor counts = device_counts.cpu();
  last_counts_.assign(counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + experts);

  const torch::Tensor x_sorted = x.index_select(0, sorted_images);
  const torch::Tensor w_sorted = routing.weights.gather(1, routing.indices).reshape({-1}).index_select(0, order);
  std::vector<torch::Tensor> outputs;
  std::int64_t start = 0;
  for (std::int64_t e = 0; e < experts; ++e) {
    const std::int64_t routed = last_counts_[static_cast<std::size_t>(e)];
    if (routed == 0) continue;
    outputs.push_back(experts_[static_cast<std::size_t>(e)].forward(x_sorted.narrow(0, start, routed)));
    start += routed;
  }
  if (outputs.empty()) return experts_.front().forward(x);  // an empty batch
  torch::Tensor y = outputs.size() == 1 ? outputs.front() : torch::cat(outputs, 0);
  // Mean output of each expert over its images (0 without any): the per-image means averaged
  // per expert, one index_add over the sorted slots.
  last_routing_.expert_means =
      torch::zeros({experts}, y.options()).index_add(0, flat_experts.index_select(0, order), y.flatten(1).mean(1)) /
      device_counts.to(y.scalar_type()).clamp_min(1.0);
  y = y * per_image(w_sorted, y.dim());
  std::vector<std::int64_t> out_shape = y.sizes().vec();
  out_shape[0] = x.size(0);
  return torch::zeros(out_shape, y.options()).index_add(0, sorted_images, y);
}

torch::Tensor MoeLayerImpl::forward_dense(const torch::Tensor& x) {
  const GateOutput routing = gate_->forward(x);
  torch::Tensor output;
  for (std::int64_t e = 0; e < options_.num_experts(); ++e) {
    torch::Tensor y = experts_[static_cast<std::size_t>(e)].forward(x);
    y = y * per_image(routing.weights.select(1, e), y.dim());
    output = output.defined() ? output + y : y;
  }
  return output;
}

void MoeLayerImpl::pretty_print(std::ostream& stream) const {
  stream << "armor::MoeLayer(num_experts=" << options_.num_experts() << ", k=" << options_.k() << ")";
}

}  // namespace armor
