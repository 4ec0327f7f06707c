// model/torchscript: bring your own model. Loads a model exported from PyTorch with
// torch.jit.trace or torch.jit.script (x [N,C,H,W] in [0,1] -> logits [N,K]; normalisation inside
// the model) so that armor's attacks evaluate it and runs.db records it like any run.
//
// The TorchScript module's parameters and buffers are registered as this module's own (the same
// tensors), so that .to(device), checkpoints and the attacks' parameter freezing reach them; train()
// and eval() switch the TorchScript module too.

#include <filesystem>

#include <fmt/core.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

// "layer1.0.weight" -> "layer1_0_weight": torch::nn::Module names may not contain dots.
std::string flat_name(std::string name) {
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

class TorchScriptClassifier : public armor::Classifier {
 public:
  explicit TorchScriptClassifier(const std::string& path) {
    if (!std::filesystem::is_regular_file(path)) {
      throw armor::ConfigError(fmt::format("model.path: no TorchScript file at '{}'", path));
    }
    try {
      module_ = torch::jit::load(path);
    } catch (const c10::Error& error) {
      throw armor::ConfigError(fmt::format("model.path: '{}' is not a TorchScript model: {}", path, error.msg()));
    }
    for (const auto& parameter : module_.named_parameters(/*recurse=*/true)) {
      register_parameter(flat_name(parameter.name), parameter.value);
    }
    for (const auto& buffer : module_.named_buffers(/*recurse=*/true)) {
      register_buffer(flat_name(buffer.name), buffer.value);
    }
    module_.eval();
    torch::nn::Module::eval();
  }

  torch::Tensor forward(const torch::Tensor& x) override { return module_.forward({x}).toTensor(); }

  void train(bool on = true) override {
    torch::nn::Module::train(on);
    module_.train(on);
  }

 private:
  torch::jit::Module module_;
};

void register_torchscript(armor::Registry& registry) {
  registry.add_model("torchscript",
                     "A model exported from PyTorch (torch.jit.trace/script): inputs in [0,1], logits out",
                     armor::ParamSchema().string("path", "model.pt", "The TorchScript file (torch.jit.save)"),
                     [](const armor::Params& params, const armor::ModelContext&) {
                       return std::make_shared<TorchScriptClassifier>(params.string("path"));
                     });
}

}  // namespace

ARMOR_PLUGIN("torchscript", "1.0", register_torchscript)
