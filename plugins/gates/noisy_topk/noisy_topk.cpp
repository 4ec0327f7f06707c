// gate/noisy_topk: the noisy top-k gate of Shazeer et al. (2017).
// forward: x [N,C,H,W] -> clean_logits [N,E] = router_g(x), noise_std [N,E] = softplus(router_n(x)),
// logits = clean_logits + N(0,1) * noise_std while training (clean in evaluation), probs =
// softmax(logits), indices [N,k] = top-k of logits (with the expert capacity of topk when
// capacity_factor > 0, training only), weights [N,E] = softmax over the k chosen logits, zero
// elsewhere (so for k = 1 the weight is exactly 1 and only balancing losses train the router).
// clean_logits and noise_std feed the load term of the importance loss.

#include <torch/torch.h>

#include "armor/nn/gate.h"
#include "armor/nn/routing_network.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class NoisyTopKGate : public armor::Gate {
 public:
  NoisyTopKGate(const armor::Params& params, const armor::GateShape& shape)
      : k_(shape.k), noise_(params.boolean("noise")), capacity_factor_(params.real("capacity_factor")) {
    const auto options = armor::RoutingNetworkOptions(shape.in_channels, shape.num_experts)
                             .kind(params.string("router"))
                             .input_shape(shape.input_shape);
    router_ = register_module("router", armor::RoutingNetwork(options));
    noise_router_ = register_module("noise_router", armor::RoutingNetwork(options));
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.clean_logits = router_(x);
    out.logits = out.clean_logits;
    if (is_training() && noise_) {
      out.noise_std = torch::softplus(noise_router_(x)) + 1e-2;
      out.logits = out.clean_logits + torch::randn_like(out.clean_logits) * out.noise_std;
    }
    out.probs = torch::softmax(out.logits, 1);
    const std::int64_t capacity = is_training() && capacity_factor_ > 0
                                      ? armor::expert_capacity(x.size(0), out.logits.size(1), k_, capacity_factor_)
                                      : 0;
    out.indices = armor::top_k_with_capacity(out.logits, k_, capacity);
    const torch::Tensor chosen = torch::softmax(out.logits.gather(1, out.indices), 1);
    out.weights = torch::zeros_like(out.probs).scatter(1, out.indices, chosen);
    return out;
  }

 private:
  std::int64_t k_;
  bool noise_;
  double capacity_factor_;
  armor::RoutingNetwork router_{nullptr}, noise_router_{nullptr};
};

void register_noisy_topk(armor::Registry& registry) {
  registry.add_gate(
      "noisy_topk", "Noisy top-k gate (Shazeer et al. 2017): learned softplus noise, softmax over the top k",
      armor::ParamSchema()
          .string("router", "gap_fc", "Routing network of the logits and of the noise",
                  {"gap_fc", "conv_gap", "2conv_gap"})
          .boolean("noise", true, "Add the learned noise while training")
          .real("capacity_factor", 0.0, "Expert capacity max(1, ceil(k*N/E*factor)) while training (0 = unlimited)", 0),
      [](const armor::Params& params, const armor::GateShape& shape) {
        return std::make_shared<NoisyTopKGate>(params, shape);
      });
}

}  // namespace

ARMOR_PLUGIN("noisy_topk", "1.0", register_noisy_topk)
