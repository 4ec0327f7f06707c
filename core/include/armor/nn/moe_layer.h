#pragma once
// MoeLayer: a sparse Mixture-of-Experts layer, an SDK module that model plugins use.
//
// forward: x [N, ...] -> y [N, ...] = sum over the chosen experts e of weights[n,e] * expert_e(x_n).
// Sparse, batched dispatch: each expert runs once per forward, on the sub-batch of images routed to
// it (never a per-image loop), so the cost grows with k, not with E. With fixed_expert(i) set, the
// gate is bypassed and expert i runs on every image (fixed-expert evaluation).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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
  TORCH_ARG(std::int64_t, num_experts);
  TORCH_ARG(std::int64_t, k);
};

class MoeLayerImpl : public torch::nn::Module {
 public:
  // make_expert(i) builds expert i; every expert maps x [n, ...] to outputs of one common shape.
  MoeLayerImpl(MoeLayerOptions options, std::shared_ptr<Gate> gate,
               const std::function<torch::nn::AnyModule(std::int64_t)>& make_expert);

  torch::Tensor forward(const torch::Tensor& x);
  // Every expert on every image, weighted by the gate: the reference the sparse path must equal.
  torch::Tensor forward_dense(const torch::Tensor& x);

  void set_fixed_expert(std::optional<std::int64_t> expert);
  std::optional<std::int64_t> fixed_expert() const noexcept { return fixed_expert_; }

  // The routing of the last forward (undefined tensors before the first, or when an expert was fixed).
  const GateOutput& last_routing() const noexcept { return last_routing_; }
  const MoeLayerOptions& options() const noexcept { return options_; }
  Gate& gate() { return *gate_; }
  std::int64_t num_experts() const noexcept { return options_.num_experts(); }

  void pretty_print(std::ostream& stream) const override;

 private:
  torch::Tensor dispatch(const torch::Tensor& x, const GateOutput& routing);

  MoeLayerOptions options_;
  std::shared_ptr<Gate> gate_;
  std::vector<torch::nn::AnyModule> experts_;
  std::optional<std::int64_t> fixed_expert_;
  GateOutput last_routing_;
};

TORCH_MODULE(MoeLayer);

}  // namespace armor
