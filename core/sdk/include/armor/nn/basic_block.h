#pragma once
// BasicBlock: the residual block of ResNet-18/34 (He et al. 2016).
// forward: x [N,in,H,W] -> [N,out,H/stride,W/stride]
//   relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), shortcut = 1x1 conv + BN when the shape changes.
// Every convolution Kaiming-normal (gain sqrt(2)) with mode `init_mode`: fan_out (torchvision's
// ResNet, the default) or fan_in (PyTorch's kaiming_normal_ default, what paper 2's released code
// gives MoE experts); BatchNorm weight 1, bias 0.

#include <cstdint>

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

namespace armor {

struct BasicBlockOptions {
  BasicBlockOptions(std::int64_t in_channels, std::int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(std::int64_t, in_channels);
  TORCH_ARG(std::int64_t, out_channels);
  TORCH_ARG(std::int64_t, stride) = 1;
  TORCH_ARG(torch::nn::init::FanModeType, init_mode) = torch::kFanOut;
};

class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  explicit BasicBlockImpl(BasicBlockOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;

  BasicBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential shortcut{nullptr};  // empty when the shape is kept
};

TORCH_MODULE(BasicBlock);

}  // namespace armor
