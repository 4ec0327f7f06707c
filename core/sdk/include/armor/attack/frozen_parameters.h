#pragma once
// FrozenParameters: while it lives, no parameter of a module requires a gradient, so an attack's
// backward pass computes the input's gradient only (faster, and nothing accumulates in .grad).
// The previous requires_grad flags are restored on destruction. The module's train/eval mode is
// not touched.

#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

namespace armor {

class FrozenParameters {
 public:
  explicit FrozenParameters(torch::nn::Module& module);
  ~FrozenParameters();
  FrozenParameters(const FrozenParameters&) = delete;
  FrozenParameters& operator=(const FrozenParameters&) = delete;

 private:
  std::vector<std::pair<torch::Tensor, bool>> saved_;
};

}  // namespace armor
