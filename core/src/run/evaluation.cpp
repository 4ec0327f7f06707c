#include "armor/run/evaluation.h"

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/data/batch_loader.h"
#include "armor/nn/classifier.h"
#include "armor/util/progress.h"

namespace armor {
namespace {

// Clean accuracy; also counts, per MoE layer, how often each expert was chosen, for which class,
// and sums the entropy of the gate probabilities.
double clean_accuracy(Classifier& model, BatchLoader& loader, std::int64_t num_classes, EvaluationResult& result) {
  auto layers = model.moe_layers();
  std::vector<torch::Tensor> class_counts;  // [C*E] per layer: class c, expert e at c*E + e
  std::vector<double> entropy_sum(layers.size(), 0.0);
  std::vector<std::int64_t> entropy_images(layers.size(), 0);
  for (auto& [name, layer] : layers) class_counts.push_back(torch::zeros({num_classes * layer->num_experts()}, torch::kInt64));
  double correct = 0;
  Progress progress("eval clean", loader.num_batches());
  std::int64_t done = 0;
  loader.start_epoch(0);
  torch::NoGradGuard no_grad;
  while (auto batch = loader.next()) {
    correct += model.forward(batch->x).argmax(1).eq(batch->y).sum().item<double>();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const GateOutput& routing = layers[i].second->last_routing();
      const std::int64_t experts = layers[i].second->num_experts();
      if (routing.indices.defined()) {
        const torch::Tensor cells = batch->y.unsqueeze(1) * experts + routing.indices;  // [N,k]
        class_counts[i] += torch::bincount(cells.reshape({-1}).cpu(), {}, num_classes * experts);
      }
      if (routing.probs.defined()) {
        const torch::Tensor& p = routing.probs;
        entropy_sum[i] += -(p * p.clamp_min(1e-12).log()).sum().item<double>();
        entropy_images[i] += p.size(0);
      }
    }
    progress.update(++done);
  }
  const double accuracy = correct / static_cast<double>(std::max<std::int64_t>(1, loader.num_images()));
  progress.finish(fmt::format("acc {:.4f}", accuracy));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string& name = layers[i].first;
    const std::int64_t experts = layers[i].second->num_experts();
    const torch::Tensor matrix = class_counts[i].view({num_classes, experts}).to(torch::kFloat64);  // [C,E]
    const torch::Tensor usage = matrix.sum(0) / matrix.sum().clamp_min(1.0);
    const torch::Tensor per_class = matrix / matrix.sum(1, true).clamp_min(1.0);
    const auto* u = usage.data_ptr<double>();
    for (std::int64_t e = 0; e < experts; ++e) {
      result.usage.push_back({name, e, u[e]});
      for (std::int64_t c = 0; c < num_classes; ++c) {
        result.routing.push_back({name, e, fmt::format("class_{}_share", c), per_class[c][e].item<double>()});
      }
    }
    result.routing.push_back({name, -1, "usage_entropy", -(usage * usage.clamp_min(1e-12).log()).sum().item<double>()});
    if (entropy_images[i] > 0) {
      result.routing.push_back({name, -1, "routing_entropy", entropy_sum[i] / static_cast<double>(entropy_images[i])});
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
  BatchLoader loader(test, batch_size, device);
  EvaluationResult result;
  const std::int64_t num_classes = test.size() > 0 ? test.labels.max().item<std::int64_t>() + 1 : 1;
  result.metrics.emplace_back("clean_acc", clean_accuracy(model, loader, num_classes, result));
  for (const auto& attack : attacks) {
    result.metrics.emplace_back(attack.name + "_acc", robust_accuracy(model, loader, attack));
  }
  return result;
}

}  // namespace armor
