#include "armor/run/evaluation.h"

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/data/batch_loader.h"
#include "armor/nn/classifier.h"
#include "armor/util/progress.h"

namespace armor {
namespace {

// Clean accuracy; also counts, per MoE layer, how often each expert was chosen.
double clean_accuracy(Classifier& model, BatchLoader& loader, std::vector<ExpertUsage>& usage) {
  auto layers = model.moe_layers();
  std::vector<torch::Tensor> counts;
  for (auto& [name, layer] : layers) counts.push_back(torch::zeros({layer->num_experts()}, torch::kInt64));
  double correct = 0;
  Progress progress("eval clean", loader.num_batches());
  std::int64_t done = 0;
  loader.start_epoch(0);
  torch::NoGradGuard no_grad;
  while (auto batch = loader.next()) {
    correct += model.forward(batch->x).argmax(1).eq(batch->y).sum().item<double>();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const GateOutput& routing = layers[i].second->last_routing();
      if (routing.indices.defined()) {
        counts[i] += torch::bincount(routing.indices.reshape({-1}).cpu(), {}, layers[i].second->num_experts());
      }
    }
    progress.update(++done);
  }
  const double accuracy = correct / static_cast<double>(std::max<std::int64_t>(1, loader.num_images()));
  progress.finish(fmt::format("acc {:.4f}", accuracy));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const double total = std::max(1.0, counts[i].sum().item<double>());
    for (std::int64_t e = 0; e < counts[i].size(0); ++e) {
      usage.push_back({layers[i].first, e, counts[i][e].item<double>() / total});
    }
  }
  return accuracy;
}

double robust_accuracy(Classifier& model, BatchLoader& loader, const EvalAttack& eval_attack) {
  double correct = 0;
  double seen = 0;
  Progress progress("eval " + eval_attack.name, loader.num_batches());
  std::int64_t done = 0;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const torch::Tensor adversarial = eval_attack.attack->perturb(model, batch->x, batch->y);
    torch::NoGradGuard no_grad;
    correct += model.forward(adversarial).argmax(1).eq(batch->y).sum().item<double>();
    ++done;
    seen += static_cast<double>(batch->y.size(0));
    progress.update(done, fmt::format("acc {:.3f}", correct / seen));
  }
  const double accuracy = correct / static_cast<double>(std::max<std::int64_t>(1, loader.num_images()));
  progress.finish(fmt::format("acc {:.4f}  ({})", accuracy, eval_attack.attack->describe()));
  return accuracy;
}

}  // namespace

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                          const std::vector<EvalAttack>& attacks) {
  model.eval();
  BatchLoader loader(test, batch_size, /*shuffle=*/false, 0, device);
  EvaluationResult result;
  result.metrics.emplace_back("clean_acc", clean_accuracy(model, loader, result.usage));
  for (const auto& attack : attacks) {
    result.metrics.emplace_back(attack.name + "_acc", robust_accuracy(model, loader, attack));
  }
  return result;
}

}  // namespace armor
