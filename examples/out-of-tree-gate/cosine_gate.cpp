// gate/cosine: a cosine router (X-MoE, Chi et al. 2022), built out of tree against an installed armor.
// forward: x [N,C,H,W] (or [N,C]) -> features f [N,C] by global average pooling -> h = normalize(W f) [N,D]
// logits [N,E] = h · normalize(embeddings)ᵀ / temperature, probs = softmax(logits),
// indices [N,k] = top-k of probs, weights [N,E] = armor::combine_weights(probs, indices).
// Scores are cosines, so one expert cannot win merely by a large embedding norm.

#include <torch/torch.h>

#include "armor/nn/gate.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class CosineGate : public armor::Gate {
 public:
  CosineGate(const armor::Params& params, const armor::GateShape& shape)
      : k_(shape.k), temperature_(params.real("temperature")) {
    const std::int64_t dim = params.integer("dim");
    projection_ = register_module("projection", torch::nn::Linear(shape.in_channels, dim));
    embeddings_ = register_parameter("embeddings", torch::randn({shape.num_experts, dim}) * 0.1);
  }

  armor::GateOutput forward(const torch::Tensor& x) override {
    const torch::Tensor features = x.dim() > 2 ? x.flatten(2).mean(2) : x;  // [N,C]
    const auto unit = torch::nn::functional::NormalizeFuncOptions().dim(1);
    const torch::Tensor h = torch::nn::functional::normalize(projection_(features), unit);  // [N,D]
    const torch::Tensor e = torch::nn::functional::normalize(embeddings_, unit);            // [E,D]
    armor::GateOutput out;
    out.logits = h.matmul(e.t()) / temperature_;
    out.probs = torch::softmax(out.logits, 1);
    out.indices = std::get<1>(out.probs.detach().topk(k_, 1));
    out.weights = armor::combine_weights(out.probs, out.indices);
    return out;
  }

 private:
  std::int64_t k_;
  double temperature_;
  torch::nn::Linear projection_{nullptr};
  torch::Tensor embeddings_;
};

void register_cosine(armor::Registry& registry) {
  registry.add_gate("cosine", "Cosine router (X-MoE): GAP, projection, cosine to expert embeddings / temperature",
                    armor::ParamSchema()
                        .integer("dim", 16, "Dimension of the routing space (projection and embeddings)", 1)
                        .real("temperature", 0.5, "Divides the cosines: lower is a sharper softmax", 1e-3),
                    [](const armor::Params& params, const armor::GateShape& shape) {
                      return std::make_shared<CosineGate>(params, shape);
                    });
}

}  // namespace

ARMOR_PLUGIN("cosine", "1.0", register_cosine)
