#pragma once
// A model's weights as Python sees them: a dict of tensors keyed by parameter and buffer name
// ("layer1.0.conv1.weight", "bn1.running_mean", ...), written in PyTorch's own zip format, so that
//   state = torch.load("weights.pt"); model.load_state_dict(state)
// works in Python for a PyTorch model with the same names.

#include <map>
#include <string>

#include <torch/nn/module.h>
#include <torch/serialize/input-archive.h>
#include <torch/types.h>

namespace armor {

// Writes every parameter and buffer of `module` (on the CPU) to `path`, atomically.
void save_state_dict(const torch::nn::Module& module, const std::string& path);

// Reads such a file back (name -> tensor), e.g. to check it; DataError naming the file otherwise.
std::map<std::string, torch::Tensor> load_state_dict(const std::string& path);

// Loads a LibTorch archive written by Module::save into `module`, after checking that every
// parameter, buffer and submodule is there with the same shape and that nothing else is
// (LibTorch's own load would silently resize mismatched tensors). RunError naming `source` and
// the first mismatching name otherwise.
void load_module_strict(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& source);

}  // namespace armor
