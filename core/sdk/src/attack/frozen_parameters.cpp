#include "armor/attack/frozen_parameters.h"

namespace armor {

FrozenParameters::FrozenParameters(torch::nn::Module& module) {
  for (torch::Tensor& parameter : module.parameters(/*recurse=*/true)) {
    saved_.emplace_back(parameter, parameter.requires_grad());
    parameter.set_requires_grad(false);
  }
}

FrozenParameters::~FrozenParameters() {
  for (auto& [parameter, requires_grad] : saved_) parameter.set_requires_grad(requires_grad);
}

}  // namespace armor
