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
  const ApgdOptions apgd = ApgdOptions().eps(options.eps).steps(options.apgd_steps).seed(options.seed);
  if (name == "apgd-ce") return std::make_shared<Apgd>(ApgdOptions(apgd).loss(AttackLoss::cross_entropy));
  if (name == "apgd-dlr") return std::make_shared<Apgd>(ApgdOptions(apgd).loss(AttackLoss::dlr));
  if (name == "apgd-t")
    return std::make_shared<Apgd>(ApgdOptions(apgd).targeted(true).target_classes(options.target_classes));
  if (name == "fab-t") {
    return std::make_shared<Fab>(FabOptions()
                                     .eps(options.eps)
                                     .steps(options.fab_steps)
                                     .target_classes(options.target_classes)
                                     .seed(options.seed));
  }
  if (name == "square") {
    return std::make_shared<Square>(
        SquareOptions().eps(options.eps).queries(options.square_queries).seed(options.seed));
  }
  throw ConfigError(fmt::format("attacks names an unknown AutoAttack member (got '{}'; known: {})", name,
                                fmt::join(AutoAttack::known_members(), ", ")));
}

}  // namespace

const std::vector<std::string>& AutoAttack::known_members() {
  static const std::vector<std::string> names{"apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square"};
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
  const torch::Tensor clean = x.detach();
  torch::Tensor adversarial = clean.clone();
  torch::Tensor robust = predict_labels(model, clean).eq(y);
  seen_ += x.size(0);
  for (std::size_t m = 0; m < members_.size(); ++m) {
    const torch::Tensor index = robust.nonzero().view(-1);
    if (index.numel() == 0) break;
    const torch::Tensor y_run = y.index_select(0, index);
    const torch::Tensor candidate = members_[m]->perturb(model, clean.index_select(0, index), y_run);
    fooled_[m].second +=
        record_fooled(robust, adversarial, index, candidate, predict_labels(model, candidate).ne(y_run));
  }
  return adversarial;
}

std::string AutoAttack::describe() const {
  std::vector<std::string> parts;
  for (const auto& member : members_) parts.push_back(member->describe());
  return fmt::format("AutoAttack [{}]", fmt::join(parts, "; "));
}

}  // namespace armor
