// gate/topk: the top-k gate of paper 2 (ALGORITHMS.md §1) with a GAP-FC routing network.
// forward: x [N,C,...] -> logits [N,E] = Linear(C,E)(mean over spatial dims), probs = softmax,
// indices [N,k] = top-k of probs (in training with noise: of probs/std(probs) + N(0, noise_std^2)),
// weights [N,E] by armor::combine_weights (straight-through 1 for k = 1, renormalised for k > 1).

#include <torch/torch.h>

#include "armor/nn/gate.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class TopKGate : public armor::Gate {
 public:
  TopKGate(const armor::GateShape& shape, bool noise, double noise_std)
      : k_(shape.k), noise_(noise), noise_std_(noise_std) {
    TORCH_CHECK(shape.k >= 1 && shape.k <= shape.num_experts, "topk gate: k must be in [1, ", shape.num_experts,
                "] (got ", shape.k, ")");
    fc_ = register_module("fc", torch::nn::Linear(shape.in_channels, shape.num_experts));
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    const torch::Tensor pooled = x.dim() > 2 ? x.flatten(2).mean(2) : x;
    armor::GateOutput out;
    out.logits = fc_(pooled);
    out.probs = torch::softmax(out.logits, 1);
    torch::Tensor scores = out.probs.detach();
    if (is_training() && noise_) {
      // Noise scaled to the spread of the scores, so that it matters equally at any temperature.
      scores = scores / scores.std().clamp_min(1e-9) + torch::randn_like(scores) * noise_std_;
    }
    out.indices = std::get<1>(scores.topk(k_, 1));
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }

 private:
  std::int64_t k_;
  bool noise_;
  double noise_std_;
  torch::nn::Linear fc_{nullptr};
};

void register_topk(armor::Registry& registry) {
  registry.add_gate("topk", "Top-k gate, GAP-FC router, optional training noise (paper 2)",
                    armor::ParamSchema()
                        .boolean("noise", true, "Add Gaussian noise to the normalised scores while training")
                        .real("noise_std", 0.1, "Standard deviation of the training noise", 0),
                    [](const armor::Params& params, const armor::GateShape& shape) {
                      return std::make_shared<TopKGate>(shape, params.boolean("noise"), params.real("noise_std"));
                    });
}

}  // namespace

ARMOR_PLUGIN("topk", "1.0", register_topk)
