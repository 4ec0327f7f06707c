#include "armor/run/route_held_classifier.h"

#include <torch/torch.h>

#include "armor/error.h"

namespace armor {
namespace {

// Clears the held routing of every layer when it goes, also when a forward throws.
struct ReleaseRouting {
  std::vector<MoeLayer>& layers;
  ~ReleaseRouting() {
    for (auto& layer : layers) layer->set_held_routing(std::nullopt);
  }
};

}  // namespace

GateOutput select_routing(const GateOutput& routing, const torch::Tensor& rows, bool detach) {
  auto select = [&](const torch::Tensor& t) -> torch::Tensor {
    if (!t.defined()) return t;
    torch::Tensor out = t.index_select(0, rows.to(t.device()));
    return detach ? out.detach() : out;
  };
  return GateOutput{select(routing.logits),  select(routing.probs),        select(routing.indices),
                    select(routing.weights), select(routing.clean_logits), select(routing.noise_std)};
}

RouteHeldClassifier::RouteHeldClassifier(Classifier& model, HeldPart attacked) : model_(model), attacked_(attacked) {
  for (auto& [name, layer] : model_.moe_layers()) layers_.push_back(layer);
  if (layers_.empty()) throw RunError("route attacks (RA-E, RA-R) need a MoE model; this model has no MoE layer");
}

void RouteHeldClassifier::hold(const torch::Tensor& clean) {
  clean_ = clean.detach();
  clean_routing_.clear();
  if (attacked_ != HeldPart::experts) return;
  torch::NoGradGuard no_grad;
  model_.forward(clean_);
  const torch::Tensor all = torch::arange(clean_.size(0), torch::TensorOptions().dtype(torch::kInt64));
  for (auto& layer : layers_) clean_routing_.push_back(select_routing(layer->last_routing(), all, /*detach=*/true));
}

torch::Tensor RouteHeldClassifier::clean_indices_of(const torch::Tensor& x) const {
  TORCH_CHECK(clean_.defined(), "RouteHeldClassifier: hold() a clean batch before the forward");
  const auto long_options = torch::TensorOptions().dtype(torch::kInt64).device(x.device());
  if (x.size(0) == clean_.size(0)) return torch::arange(x.size(0), long_options);
  // Nearest in L-infinity: exact whenever the held images differ by more than 2 eps in some pixel.
  torch::NoGradGuard no_grad;
  const torch::Tensor clean = clean_.flatten(1).to(x.device());
  const torch::Tensor inputs = x.detach().flatten(1);
  torch::Tensor rows = torch::empty({x.size(0)}, long_options);
  for (std::int64_t i = 0; i < x.size(0); ++i) rows[i] = (clean - inputs[i]).abs().amax(1).argmin();
  return rows;
}

torch::Tensor RouteHeldClassifier::forward_with(const torch::Tensor& x, const std::vector<GateOutput>& routing) {
  ReleaseRouting release{layers_};
  for (std::size_t i = 0; i < layers_.size(); ++i) layers_[i]->set_held_routing(routing[i]);
  return model_.forward(x);
}

torch::Tensor RouteHeldClassifier::forward(const torch::Tensor& x) {
  const torch::Tensor rows = clean_indices_of(x);
  std::vector<GateOutput> routing;
  if (attacked_ == HeldPart::experts) {
    for (const GateOutput& clean : clean_routing_) routing.push_back(select_routing(clean, rows, /*detach=*/true));
    return forward_with(x, routing);
  }
  // RA-R: the gates' choice on x (one forward of x, gradients kept), the experts on the clean images.
  model_.forward(x);
  for (auto& layer : layers_) routing.push_back(layer->last_routing());
  const torch::Tensor out = forward_with(clean_.to(x.device()).index_select(0, rows), routing);
  // A gate whose weights carry no gradient (a hard, one-hot router) leaves the output without a
  // path back to x: its input gradient is 0, and a gradient attack must get that 0, not an error.
  return x.requires_grad() ? out + 0.0 * x.sum() : out;
}

}  // namespace armor
