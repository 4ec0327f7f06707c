// gate/topk: the top-k gate of paper 2 (ALGORITHMS.md §1), per image.
// forward: x [N,C,H,W] -> logits [N,E] = routing network (gap_fc | conv_gap | 2conv_gap),
// probs = softmax(logits), indices [N,k], weights [N,E] by armor::combine_weights (straight-through
// weight 1 for k = 1, the chosen probabilities renormalised for k > 1). The choice of indices:
//   evaluation:                         plain top-k of probs
//   training, balancing loss "entropy": plain top-k of probs
//   training, any other loss:           top-k of probs / std(probs) + N(0, noise_std^2) (noise = true;
//                                       std over the whole [N,E] matrix), with the expert capacity
//                                       max(1, ceil(k*N/E*capacity_factor)) when capacity_factor > 0
//                                       (armor::top_k_with_capacity, the released _enforce_capacity: a
//                                       full expert keeps the images with the highest gate values, the
//                                       rest overflow to their next best expert; independent of the
//                                       batch order).

#include <torch/torch.h>

#include "armor/nn/gate.h"
#include "armor/nn/routing_network.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class TopKGate : public armor::Gate {
 public:
  TopKGate(const armor::Params& params, const armor::GateShape& shape)
      : k_(shape.k),
        noise_(params.boolean("noise")),
        noise_std_(params.real("noise_std")),
        capacity_factor_(params.real("capacity_factor")),
        plain_in_training_(shape.has_balancing_loss("entropy")) {
    router_ = register_module("router",
                              armor::RoutingNetwork(armor::RoutingNetworkOptions(shape.in_channels, shape.num_experts)
                                                        .kind(params.string("router"))
                                                        .input_shape(shape.input_shape)));
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    armor::GateOutput out;
    out.logits = router_(x);
    out.probs = torch::softmax(out.logits, 1);
    torch::Tensor scores = out.probs.detach();
    if (is_training() && !plain_in_training_) {
      if (noise_) scores = scores / scores.std().clamp_min(1e-9) + torch::randn_like(scores) * noise_std_;
      const std::int64_t capacity =
          capacity_factor_ > 0 ? armor::expert_capacity(x.size(0), scores.size(1), k_, capacity_factor_) : 0;
      out.indices = armor::top_k_with_capacity(scores, k_, capacity);
    } else {
      out.indices = std::get<1>(scores.topk(k_, 1));
    }
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }

 private:
  std::int64_t k_;
  bool noise_;
  double noise_std_;
  double capacity_factor_;
  bool plain_in_training_;
  armor::RoutingNetwork router_{nullptr};
};

void register_topk(armor::Registry& registry) {
  registry.add_gate(
      "topk", "Top-k gate of paper 2: GAP-FC/Conv-GAP/2Conv-GAP router, training noise, capacity",
      armor::ParamSchema()
          .string("router", "gap_fc", "Routing network: gap_fc, conv_gap or 2conv_gap",
                  {"gap_fc", "conv_gap", "2conv_gap"})
          .boolean("noise", true,
                   "Add Gaussian noise to the normalised scores while training (never with the entropy loss)")
          .real("noise_std", 0.1, "Standard deviation of the training noise", 0)
          .real("capacity_factor", 0.0, "Expert capacity max(1, ceil(k*N/E*factor)) while training (0 = unlimited)", 0),
      [](const armor::Params& params, const armor::GateShape& shape) {
        return std::make_shared<TopKGate>(params, shape);
      });
}

}  // namespace

ARMOR_PLUGIN("topk", "1.0", register_topk)
