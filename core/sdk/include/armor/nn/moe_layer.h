#pragma once
// MoeLayer: a sparse Mixture-of-Experts layer, an SDK module that model plugins use.
//
// forward: x [N, ...] -> y [N, ...] = sum over the chosen experts e of weights[n,e] * expert_e(x_n).
// Sparse, batched dispatch: the N*k (image, expert) pairs are sorted by expert once, the inputs
// gathered once, each expert runs once per forward on its contiguous sub-batch (never a per-image
// loop), and the weighted outputs are scattered back with one index_add: the cost grows with k,
// not with E, and the forward makes one host sync (the per-expert counts). Expert capacity is the
// gate's business (see top_k_with_capacity in gate.h): the layer runs whatever routing it gets.
// With fixed_expert(i) set, the gate is bypassed and expert i runs on every image; with a held
// routing set, the gate is bypassed and the held routing combines the experts.
// The layer's options are the one source of its shape: num_experts and k (a model plugin reads them
// from armor::moe_params(), whose declared constraint keeps k <= num_experts), and what the gate
// routes on; the layer builds its gate from a factory told options.gate_shape(), and dispatches k
// experts per image.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include "armor/nn/gate.h"

namespace armor {

struct MoeLayerOptions {
  MoeLayerOptions(std::int64_t num_experts, std::int64_t k) : num_experts_(num_experts), k_(k) {}
  // The shape the layer's gate is built for: these options' num_experts, k, in_channels, input_shape.
  GateShape gate_shape() const;

  TORCH_ARG(std::int64_t, num_experts);
  TORCH_ARG(std::int64_t, k);
  // What the gate routes on: the channels (dim 1) of its input and one image's input [C,H,W] (or
  // [C]; empty when unknown).
  TORCH_ARG(std::int64_t, in_channels) = 0;
  TORCH_ARG(std::vector<std::int64_t>, input_shape) = {};
};

// Builds the gate of one MoE layer for the shape the layer gives it (ModelContext::make_gate).
using MakeGate = std::function<std::shared_ptr<Gate>(const GateShape&)>;

class MoeLayerImpl : public torch::nn::Module {
 public:
  using MakeExpert = std::function<torch::nn::AnyModule(std::int64_t)>;

  // make_gate(options.gate_shape()) builds the gate; make_expert(i) builds expert i; every expert
  // maps x [n, ...] to outputs of one common shape.
  MoeLayerImpl(MoeLayerOptions options, const MakeGate& make_gate, const MakeExpert& make_expert);
  // A gate built already; it must choose options.k() experts per image.
  MoeLayerImpl(MoeLayerOptions options, std::shared_ptr<Gate> gate, const MakeExpert& make_expert);

  torch::Tensor forward(const torch::Tensor& x);
  // The experts combined with a given routing instead of the gate's (a route held fixed while an
  // attack changes x); recorded as last_routing(). routing: indices [N,k], weights [N,E].
  torch::Tensor forward_routed(const torch::Tensor& x, const GateOutput& routing);
  // Every expert on every image, weighted by the gate: the reference the sparse path must equal.
  torch::Tensor forward_dense(const torch::Tensor& x);

  // A routing every forward uses instead of the gate's until cleared (std::nullopt): how an
  // evaluation holds a route inside a model whose forward calls this layer (RA-E, RA-R in
  // armor/run/route_held_classifier.h). Indices [N,k], weights [N,E] for the batch the next forwards
  // see. A fixed expert wins over a held routing.
  void set_held_routing(std::optional<GateOutput> routing) { held_routing_ = std::move(routing); }
  bool has_held_routing() const noexcept { return held_routing_.has_value(); }

  void set_fixed_expert(std::optional<std::int64_t> expert);
  std::optional<std::int64_t> fixed_expert() const noexcept { return fixed_expert_; }

  // The routing record of the last forward: the gate's output (chosen experts, probabilities,
  // weights, logits), undefined before the first forward. With a fixed expert: indices [N,1] all
  // that expert and one-hot weights, no probabilities (balancing losses skip the layer).
  const GateOutput& last_routing() const noexcept { return last_routing_; }
  // Images (routing slots) each expert received in the last forward, read on the host: [E].
  const std::vector<std::int64_t>& last_expert_counts() const noexcept { return last_counts_; }

  const MoeLayerOptions& options() const noexcept { return options_; }
  Gate& gate() { return *gate_; }
  std::int64_t num_experts() const noexcept { return options_.num_experts(); }
  std::int64_t k() const noexcept { return options_.k(); }
  torch::nn::AnyModule& expert(std::int64_t index) { return experts_.at(static_cast<std::size_t>(index)); }

  void pretty_print(std::ostream& stream) const override;

 private:
  torch::Tensor dispatch(const torch::Tensor& x, const GateOutput& routing);

  MoeLayerOptions options_;
  std::shared_ptr<Gate> gate_;
  std::vector<torch::nn::AnyModule> experts_;
  std::optional<std::int64_t> fixed_expert_;
  std::optional<GateOutput> held_routing_;
  GateOutput last_routing_;
  std::vector<std::int64_t> last_counts_;
};

TORCH_MODULE(MoeLayer);

}  // namespace armor
