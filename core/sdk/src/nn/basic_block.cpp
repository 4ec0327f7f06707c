#include "armor/nn/basic_block.h"

#include <torch/torch.h>

namespace armor {

BasicBlockImpl::BasicBlockImpl(BasicBlockOptions options_) : options(options_) { reset(); }

void BasicBlockImpl::reset() {
  namespace nn = torch::nn;
  conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(options.in_channels(), options.out_channels(), 3)
                                                  .stride(options.stride())
                                                  .padding(1)
                                                  .bias(false)));
  bn1 = register_module("bn1", nn::BatchNorm2d(options.out_channels()));
  conv2 = register_module(
      "conv2", nn::Conv2d(nn::Conv2dOptions(options.out_channels(), options.out_channels(), 3).padding(1).bias(false)));
  bn2 = register_module("bn2", nn::BatchNorm2d(options.out_channels()));
  shortcut = nn::Sequential();
  if (options.stride() != 1 || options.in_channels() != options.out_channels()) {
    shortcut->push_back(nn::Conv2d(
        nn::Conv2dOptions(options.in_channels(), options.out_channels(), 1).stride(options.stride()).bias(false)));
    shortcut->push_back(nn::BatchNorm2d(options.out_channels()));
  }
  register_module("shortcut", shortcut);
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, options.init_mode(), torch::kReLU);
    }
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = torch::relu(bn1(conv1(x)));
  out = bn2(conv2(out));
  return torch::relu(out + (shortcut->is_empty() ? x : shortcut->forward(x)));
}

void BasicBlockImpl::pretty_print(std::ostream& stream) const {
  stream << "armor::BasicBlock(" << options.in_channels() << ", " << options.out_channels()
         << ", stride=" << options.stride() << ")";
}

}  // namespace armor
