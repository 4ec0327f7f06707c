#include "armor/run/certified_radius.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <torch/torch.h>

#include <fmt/core.h>

#include "armor/data/batch_loader.h"
#include "armor/data/dataset.h"
#include "armor/nn/classifier.h"
#include "armor/nn/dual_model.h"
#include "armor/nn/expert_ensemble.h"
#include "armor/util/progress.h"

namespace armor {

double spectral_norm(const torch::Tensor& matrix, int iterations) {
  const torch::Tensor w = matrix.detach().to(torch::kCPU, torch::kFloat64);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  torch::Tensor v = torch::randn({w.size(1)}, generator, torch::kFloat64);
  v /= v.norm().clamp_min(1e-12);
  for (int i = 0; i < iterations; ++i) {
    const torch::Tensor u = torch::mv(w, v);
    v = torch::mv(w.t(), u);
    v /= v.norm().clamp_min(1e-12);
  }
  return torch::mv(w, v).norm().item<double>();
}

namespace {

bool skipped(const std::string& name, const std::vector<std::string>& skip) {
  return std::any_of(skip.begin(), skip.end(),
                     [&](const std::string& part) { return name.find(part) != std::string::npos; });
}

// The bound of one module's own parameters and buffers (its children are visited separately).
double layer_bound(const torch::nn::Module& module, const std::string& name, std::vector<std::string>& uncovered) {
  std::map<std::string, torch::Tensor> parameters, buffers;
  for (const auto& item : module.named_parameters(/*recurse=*/false)) parameters[item.key()] = item.value();
  for (const auto& item : module.named_buffers(/*recurse=*/false)) buffers[item.key()] = item.value();
  if (buffers.count("running_var") && parameters.count("weight")) {  // BatchNorm (eval mode)
    return (parameters["weight"].detach().abs() / (buffers["running_var"].detach() + 1e-5).sqrt()).max().item<double>();
  }
  if (buffers.count("std") && buffers.count("mean")) return 1.0 / buffers["std"].min().item<double>();  // Normalize
  const auto weight = parameters.find("weight");
  if (weight == parameters.end()) {
    if (!parameters.empty()) uncovered.push_back(name);  // e.g. a ViT's class token and position embedding
    return 1.0;
  }
  const torch::Tensor& w = weight->second;
  if (w.dim() == 2) return spectral_norm(w);
  if (w.dim() == 4)
    return std::sqrt(static_cast<double>(w.size(2) * w.size(3))) * spectral_norm(w.reshape({w.size(0), -1}));
  uncovered.push_back(name);  // LayerNorm, attention, ...
  return 1.0;
}

// S(x) [N] of one model: sum_e (a_e(x) L_e + r) for an ensemble, L for a dense model.
torch::Tensor slope(Classifier& model, const torch::Tensor& x, CertifiedRadius& result) {
  if (DualModel* dual = model.dual_model()) {
    return slope(dual->standard(), x, result) * (1.0 - dual->alpha()) +
           slope(dual->robust(), x, result) * dual->alpha();
  }
  std::vector<std::string> uncovered;
  torch::Tensor s;
  if (ExpertEnsemble* ensemble = model.expert_ensemble()) {
    const LipschitzEstimate router = lipschitz_estimate(model, {".expert"});
    torch::Tensor lipschitz = torch::empty({ensemble->num_experts()}, torch::kFloat64);
    for (std::int64_t e = 0; e < ensemble->num_experts(); ++e) {
      const LipschitzEstimate expert = lipschitz_estimate(ensemble->expert(e));
      lipschitz[e] = expert.value;
      result.expert_lipschitz.push_back(expert.value);
      uncovered.insert(uncovered.end(), expert.uncovered.begin(), expert.uncovered.end());
    }
    result.router_lipschitz = std::max(result.router_lipschitz, router.value);
    const torch::Tensor weights = ensemble->route(x).weights.to(torch::kCPU, torch::kFloat64);  // [N,E]
    s = torch::mv(weights, lipschitz) + router.value * static_cast<double>(ensemble->num_experts());
  } else {
    const LipschitzEstimate whole = lipschitz_estimate(model);
    result.expert_lipschitz.push_back(whole.value);
    uncovered = whole.uncovered;
    s = torch::full({x.size(0)}, whole.value, torch::kFloat64);
  }
  if (!uncovered.empty())
    result.assumptions += " Not bounded (treated as 1-Lipschitz): " + uncovered.front() +
                          (uncovered.size() > 1 ? " and " + std::to_string(uncovered.size() - 1) + " more." : ".");
  return s;
}

}  // namespace

LipschitzEstimate lipschitz_estimate(const torch::nn::Module& module, const std::vector<std::string>& skip) {
  LipschitzEstimate estimate;
  // The module itself, then its descendants (include_self would need the module in a shared_ptr).
  estimate.value *= layer_bound(module, module.name(), estimate.uncovered);
  for (const auto& item : module.named_modules("", /*include_self=*/false)) {
    if (skipped(item.key(), skip)) continue;
    estimate.value *= layer_bound(*item.value(), item.key(), estimate.uncovered);
  }
  return estimate;
}

CertifiedRadius certified_radius(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  torch::NoGradGuard no_grad;
  CertifiedRadius result;
  result.assumptions =
      "Lipschitz constants are products of per-layer L2 operator norms (conv: sqrt(kh*kw) x reshaped kernel; "
      "BatchNorm: "
      "max |gamma|/sigma; ReLU 1): a bound for plain chains of layers, an estimate only with skip connections, "
      "attention "
      "or LayerNorm; a hard top-k router is not Lipschitz, its r is that of its scores.";
  const torch::Tensor probs = torch::softmax(model.forward(x), 1).to(torch::kCPU, torch::kFloat64);
  const auto top = probs.topk(2, 1);
  const torch::Tensor margin = std::get<0>(top).select(1, 0) - std::get<0>(top).select(1, 1);
  const torch::Tensor correct = std::get<1>(top).select(1, 0).eq(y.to(torch::kCPU));
  const torch::Tensor s = slope(model, x, result);
  result.radius = torch::where(correct, margin / (2.0 * s.clamp_min(1e-12)), torch::zeros_like(margin));
  return result;
}

std::vector<std::pair<std::string, double>> evaluate_certified_radius(Classifier& model, const LabelledImages& data,
                                                                      std::int64_t batch_size, torch::Device device,
                                                                      double eps_l2) {
  model.eval();
  BatchLoader loader(data, batch_size, device);
  Progress progress("eval certified radius", loader.num_batches());
  loader.start_epoch(0);
  double radius_sum = 0, certified = 0, router = 0, expert_max = 0;
  std::string assumptions;
  std::int64_t done = 0;
  while (auto batch = loader.next()) {
    const CertifiedRadius result = certified_radius(model, batch->x, batch->y);
    radius_sum += result.radius.sum().item<double>();
    certified += result.radius.ge(eps_l2).logical_and(result.radius.gt(0)).sum().item<double>();
    router = std::max(router, result.router_lipschitz);
    for (const double l : result.expert_lipschitz) expert_max = std::max(expert_max, l);
    assumptions = result.assumptions;
    progress.update(++done);
  }
  const auto n = static_cast<double>(std::max<std::int64_t>(1, data.size()));
  progress.finish(
      fmt::format("mean L2 radius {:.4g}, certified at {:.4g}: {:.4f}", radius_sum / n, eps_l2, certified / n));
  fmt::print("certified radius: {}\n", assumptions);
  return {{"cert_radius_mean", radius_sum / n},
          {"cert_acc", certified / n},
          {"cert_router_lipschitz", router},
          {"cert_expert_lipschitz_max", expert_max}};
}

}  // namespace armor
