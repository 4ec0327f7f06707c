#include "armor/run/top1_routes.h"

#include <torch/torch.h>

#include "armor/nn/classifier.h"

namespace armor {

std::vector<MoeLayer> moe_layers_of(Classifier& model) {
  std::vector<MoeLayer> layers;
  for (auto& [name, layer] : model.moe_layers()) layers.push_back(layer);
  return layers;
}

torch::Tensor top1_routes(const std::vector<MoeLayer>& layers) {
  std::vector<torch::Tensor> columns;
  for (const auto& layer : layers) columns.push_back(layer->last_routing().indices.select(1, 0));
  return torch::stack(columns, 1);
}

}  // namespace armor
