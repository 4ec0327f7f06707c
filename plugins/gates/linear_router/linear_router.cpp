// gate/linear_router: paper 1's router, a Linear layer on the flattened input.
// forward: x [N, ...] -> logits [N,E] = Linear(prod(one image's shape), E)(x.flatten(1)),
// probs = softmax(logits), indices [N,k] = top-k of probs, and weights [N,E]:
//   mode = "soft" (default): trainable, armor::combine_weights (straight-through 1 for k = 1,
//                            renormalised probabilities for k > 1)
//   mode = "hard": the released code's router: argmax, weight exactly 1, and truly fixed: the whole
//                  GateOutput is computed without autograd, so no loss (task or balancing) sends a
//                  gradient to the router's parameters (their .grad stays undefined, so no
//                  optimiser, weight decay included, ever moves them: they keep their random
//                  initialisation) nor, through the router, to whatever computed its input.
//                  Attacks lose nothing: an argmax route has no useful gradient. Needs k = 1.

#include <optional>

#include <torch/torch.h>

#include "armor/nn/gate.h"
#include "armor/nn/routing_network.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class LinearRouter : public armor::Gate {
 public:
  LinearRouter(const armor::GateShape& shape, bool hard) : k_(shape.k), hard_(hard) {
    router_ = register_module("router",
                              armor::RoutingNetwork(armor::RoutingNetworkOptions(shape.in_channels, shape.num_experts)
                                                        .kind("linear")
                                                        .input_shape(shape.input_shape)));
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    std::optional<torch::NoGradGuard> fixed;
    if (hard_) fixed.emplace();
    armor::GateOutput out;
    out.logits = router_(x);
    out.probs = torch::softmax(out.logits, 1);
    out.indices = std::get<1>(out.probs.detach().topk(k_, 1));
    out.weights = hard_ ? torch::zeros_like(out.probs).scatter(1, out.indices, 1.0)
                        : armor::combine_weights(out.probs, out.indices);
    return out;
  }

  bool is_fixed() const override { return hard_; }

 private:
  std::int64_t k_;
  bool hard_;
  armor::RoutingNetwork router_{nullptr};
};

void register_linear_router(armor::Registry& registry) {
  registry.add_gate(
      "linear_router", "Paper 1's router: Linear on the flattened input (soft trainable or seed's hard argmax)",
      armor::ParamSchema().string(
          "mode", "soft", "soft: trainable softmax weights; hard: the seed's fixed argmax (k = 1)", {"soft", "hard"}),
      [](const armor::Params& params, const armor::GateShape& shape) {
        if (shape.input_shape.empty()) {
          params.fail("mode", "needs the input shape of one image, which this model does not give");
        }
        if (params.string("mode") == "hard" && shape.k != 1) {
          params.fail("mode", "hard routing chooses one expert: it needs model.k = 1 (got k = " +
                                  std::to_string(shape.k) + ")");
        }
        return std::make_shared<LinearRouter>(shape, params.string("mode") == "hard");
      });
}

}  // namespace

ARMOR_PLUGIN("linear_router", "1.0", register_linear_router)
