#pragma once
// Which expert each image went to first, in every MoE layer of a model's last forward: what
// route_change (evaluation) and score_based_route_change (attack-validity checks) compare between a
// clean image and its adversarial point.

#include <vector>

#include <torch/types.h>

#include "armor/nn/moe_layer.h"

namespace armor {

class Classifier;

// The model's MoE layers, in forward order (empty for a dense model).
std::vector<MoeLayer> moe_layers_of(Classifier& model);

// The top-1 expert of every layer in the last forward: [N, layers] int64.
torch::Tensor top1_routes(const std::vector<MoeLayer>& layers);

}  // namespace armor
