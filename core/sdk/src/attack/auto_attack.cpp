#include "armor/attack/auto_attack.h"

#include <algorithm>

#include <fmt/core.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "armor/attack/apgd.h"
#include "armor/attack/fab.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/square.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"

namespace armor {
namespace {

std::shared_ptr<Attack> make_member(const std::string& name, const AutoAttackOptions& options) {
  const ApgdOptions apgd =
      ApgdOptions().eps(options.eps).norm(options.norm).steps(options.apgd_steps).seed(options.seed);
  const ApgdOptions untargeted = ApgdOptions(apgd).eot_iterations(options.eot_iterations).restarts(options.restarts);
  if (name == "apgd-ce") return std::make_shared<Apgd>(ApgdOptions(untargeted).loss(AttackLoss::cross_entropy));
  if (name == "apgd-dlr") return std::make_shared<Apgd>(ApgdOptions(untargeted).loss(AttackLoss::dlr));
  if (name == "apgd-t")
    return std::make_shared<Apgd>(ApgdOptions(apgd).targeted(true).target_classes(options.target_classes));
  if (name == "fab") {
    return std::make_shared<Fab>(FabOptions()
                                     .eps(options.eps)
                                     .norm(options.norm)
                                     .steps(options.fab_steps)
                                     .restarts(options.restarts)
                                     .targeted(false)
                                     .seed(options.seed));
  }
  if (name == "fab-t") {
    return std::make_shared<Fab>(FabOptions()
                                     .eps(options.eps)
                                     .norm(options.norm)
                                     .steps(options.fab_steps)
                                     .target_classes(options.target_classes)
                                     .seed(options.seed));
  }
  if (name == "square") {
    return std::make_shared<Square>(
        SquareOptions().eps(options.eps).norm(options.norm).queries(options.square_queries).seed(options.seed));
  }
  throw ConfigError(fmt::format("attacks names an unknown AutoAttack member (got '{}'; known: {})", name,
                                fmt::join(AutoAttack::known_members(), ", ")));
}

}  // namespace

const std::vector<std::string>& AutoAttack::known_members() {
  static const std::vector<std::string> names{"apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square"};
  return names;
}

AutoAttack::AutoAttack(AutoAttackOptions options) : options_(std::move(options)) {
  if (options_.members.empty()) throw ConfigError("attacks must list at least one AutoAttack member (got none)");
  for (const std::string& name : options_.members) {
    members_.push_back(make_member(name, options_));
    fooled_.emplace_back(name, 0);
  }
}

torch::Tensor AutoAttack::perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  return perturb_set(model, x, y, std::max<std::int64_t>(1, x.size(0)), x.device());
}

torch::Tensor AutoAttack::perturb_set(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                      std::int64_t batch_size, torch::Device device, const SetProgress& progress) {
  TORCH_CHECK(batch_size >= 1, "AutoAttack batch_size must be positive (got ", batch_size, ")");
  const std::int64_t n = x.size(0);
  const torch::Tensor clean = x.detach();
  torch::Tensor adversarial = clean.clone();
  torch::Tensor robust = torch::empty({n}, torch::TensorOptions().dtype(torch::kBool).device(x.device()));
  for (std::int64_t start = 0; start < n; start += batch_size) {
    const std::int64_t end = std::min(n, start + batch_size);
    const torch::Tensor right =
        predict_labels(model, clean.slice(0, start, end).to(device)).eq(y.slice(0, start, end).to(device));
    robust.slice(0, start, end).copy_(right);
  }
  seen_ += n;
  for (std::size_t m = 0; m < members_.size(); ++m) {
    // The member's images: those robust now, in index order; the flags change only between members.
    const torch::Tensor index = robust.nonzero().view(-1);
    const std::int64_t count = index.numel();
    if (count == 0) break;
    const std::int64_t batches = (count + batch_size - 1) / batch_size;
    for (std::int64_t b = 0; b < batches; ++b) {
      const torch::Tensor part = index.slice(0, b * batch_size, std::min(count, (b + 1) * batch_size));
      const torch::Tensor y_run = y.index_select(0, part).to(device);
      const torch::Tensor candidate = members_[m]->perturb(model, clean.index_select(0, part).to(device), y_run);
      const torch::Tensor fooled = predict_labels(model, candidate).ne(y_run);
      fooled_[m].second += record_fooled(robust, adversarial, part, candidate.to(x.device()), fooled.to(x.device()));
      if (progress) progress(m, b + 1, batches);
    }
  }
  return adversarial;
}

bool AutoAttack::uses_gradients() const {
  return std::any_of(members_.begin(), members_.end(), [](const auto& member) { return member->uses_gradients(); });
}

std::string AutoAttack::describe() const {
  std::vector<std::string> parts;
  for (const auto& member : members_) parts.push_back(member->describe());
  return fmt::format("AutoAttack [{}]", fmt::join(parts, "; "));
}

}  // namespace armor
