#pragma once
// Normalize: per-channel (x - mean) / std as the first layer of a model, so that attacks and
// datasets stay in [0,1] pixel space. forward: x [N,C,H,W] -> [N,C,H,W].

#include <vector>

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace armor {

class NormalizeImpl : public torch::nn::Cloneable<NormalizeImpl> {
 public:
  NormalizeImpl(std::vector<double> mean, std::vector<double> std);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  std::vector<double> mean_values, std_values;
  torch::Tensor mean, std;  // buffers [1,C,1,1]
};

TORCH_MODULE(Normalize);

}  // namespace armor
