#include "armor/run/evaluation.h"

#include <algorithm>
#include <memory>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/attack/auto_attack.h"
#include "armor/attack/frozen_parameters.h"
#include "armor/data/batch_loader.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/nn/dual_model.h"
#include "armor/run/eval_checks.h"
#include "armor/run/route_held_classifier.h"
#include "armor/run/top1_routes.h"
#include "armor/util/progress.h"

namespace armor {
namespace {

// What one pass over the test split gives: accuracy, mean cross-entropy and, per image in test
// order, whether the prediction was right.
struct Pass {
  double accuracy = 0.0;
  double loss = 0.0;
  torch::Tensor correct;       // bool [N] on the CPU
  double route_change = -1.0;  // share of images whose top-1 route changed (-1 = not measured)
  std::int64_t routes_changed = 0;  // how many images that is
  double modal_route_share = -1.0;  // share of images on the most common clean route (-1 = not measured)
};

// The share of rows of `routes` [N, layers] equal to its most common row.
double modal_route_share(const torch::Tensor& routes) {
  if (routes.size(0) == 0) return 0.0;
  const torch::Tensor counts = std::get<2>(torch::unique_dim(routes, 0, /*sorted=*/false, /*return_inverse=*/false,
                                                             /*return_counts=*/true));
  return counts.max().item<double>() / static_cast<double>(routes.size(0));
}

// Accumulates a pass batch by batch.
class PassTally {
 public:
  void add(const torch::Tensor& logits, const torch::Tensor& y) {
    const torch::Tensor right = logits.argmax(1).eq(y);
    correct_.push_back(right.cpu());
    loss_sum_ += torch::nn::functional::cross_entropy(
                     logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                     .item<double>();
    right_ += right.sum().item<double>();
    seen_ += static_cast<double>(y.size(0));
  }
  double accuracy() const { return right_ / std::max(1.0, seen_); }
  Pass pass() const {
    Pass pass;
    pass.accuracy = accuracy();
    pass.loss = loss_sum_ / std::max(1.0, seen_);
    pass.correct = correct_.empty() ? torch::zeros({0}, torch::kBool) : torch::cat(correct_);
    return pass;
  }

 private:
  std::vector<torch::Tensor> correct_;
  double loss_sum_ = 0.0;
  double right_ = 0.0;
  double seen_ = 0.0;
};

// Clean accuracy; also counts, per MoE layer, how often each expert was chosen, for which class,
// and sums the entropy of the gate probabilities (when `result` is given).
Pass clean_pass(Classifier& model, BatchLoader& loader, std::int64_t num_classes, EvaluationResult* result,
                const std::string& label = "eval clean") {
  auto layers = result != nullptr ? model.moe_layers() : std::vector<std::pair<std::string, MoeLayer>>{};
  std::vector<torch::Tensor> class_counts;  // [C*E] per layer: class c, expert e at c*E + e
  std::vector<double> entropy_sum(layers.size(), 0.0);
  std::vector<std::int64_t> entropy_images(layers.size(), 0);
  for (auto& [name, layer] : layers)
    class_counts.push_back(torch::zeros({num_classes * layer->num_experts()}, torch::kInt64));
  PassTally tally;
  Progress progress(label, loader.num_batches());
  std::int64_t done = 0;
  loader.start_epoch(0);
  // Inference mode, not just no-grad: no version counters or view tracking either. Safe because
  // nothing made here (routing state included) reaches autograd: the next forward replaces it.
  c10::InferenceMode inference;
  while (auto batch = loader.next()) {
    tally.add(model.forward(batch->x), batch->y);
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
  const Pass pass = tally.pass();
  progress.finish(fmt::format("acc {:.4f}", pass.accuracy));
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::string& name = layers[i].first;
    const std::int64_t experts = layers[i].second->num_experts();
    const torch::Tensor matrix = class_counts[i].view({num_classes, experts}).to(torch::kFloat64);  // [C,E]
    const torch::Tensor usage = matrix.sum(0) / matrix.sum().clamp_min(1.0);
    const torch::Tensor per_class = matrix / matrix.sum(1, true).clamp_min(1.0);
    const auto* u = usage.data_ptr<double>();
    for (std::int64_t e = 0; e < experts; ++e) {
      result->usage.push_back({name, e, u[e]});
      for (std::int64_t c = 0; c < num_classes; ++c) {
        result->routing.push_back({name, e, fmt::format("class_{}_share", c), per_class[c][e].item<double>()});
      }
    }
    result->routing.push_back(
        {name, -1, "usage_entropy", -(usage * usage.clamp_min(1e-12).log()).sum().item<double>()});
    if (entropy_images[i] > 0) {
      result->routing.push_back({name, -1, "routing_entropy", entropy_sum[i] / static_cast<double>(entropy_images[i])});
    }
  }
  return pass;
}

// AutoAttack over the whole split as the reference's run_standard_evaluation: each member on the
// images still robust, re-batched in test order in batches of batch_size. -> x_adv [N,C,H,W] on
// the CPU, in test order.
torch::Tensor ensemble_over_split(AutoAttack& ensemble, Classifier& model, BatchLoader& loader, std::int64_t batch_size,
                                  torch::Device device, const std::string& label) {
  std::vector<torch::Tensor> images;
  std::vector<torch::Tensor> labels;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    images.push_back(batch->x.cpu());
    labels.push_back(batch->y.cpu());
  }
  if (images.empty()) return torch::empty({0});
  const std::vector<std::string>& members = ensemble.members();
  std::unique_ptr<Progress> progress;
  std::size_t shown = members.size();
  return ensemble.perturb_set(model, torch::cat(images), torch::cat(labels), batch_size, device,
                              [&](std::size_t member, std::int64_t done, std::int64_t batches) {
                                if (member != shown) {
                                  if (progress) progress->finish();
                                  progress = std::make_unique<Progress>(label + " " + members[member], batches);
                                  shown = member;
                                }
                                progress->update(done);
                                if (done == batches) {
                                  progress->finish();
                                  progress.reset();
                                }
                              });
}

// One attack over the test split. With `held`, the attack runs on (and the accuracy is that of)
// the route-held view of the model (RA-E / RA-R); otherwise on the model itself, where
// `route_change` also measures how many images the attack moved to another top-1 expert, as the
// router-attack view (RA-R) always does, with the most common clean route, for constant_router.
// AutoAttack on the model itself runs over the whole split first (ensemble_over_split), so that
// its per-image results do not depend on the split into batches; route-held passes attack batch by
// batch, since the held routes are those of each batch's clean images.
Pass attacked_pass(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                   const EvalAttack& eval_attack, const std::string& label, RouteHeldClassifier* held,
                   bool route_change) {
  BatchLoader loader(test, batch_size, device);
  auto* ensemble = held == nullptr ? dynamic_cast<AutoAttack*>(eval_attack.attack.get()) : nullptr;
  const torch::Tensor whole_split =
      ensemble != nullptr ? ensemble_over_split(*ensemble, model, loader, batch_size, device, label) : torch::Tensor();
  const bool router_attack = held != nullptr && held->attacked() == HeldPart::router;
  const std::vector<MoeLayer> layers =
      (route_change && held == nullptr) || router_attack ? moe_layers_of(model) : std::vector<MoeLayer>{};
  std::vector<torch::Tensor> clean_routes_seen;  // [n, layers] per batch, on the CPU
  PassTally tally;
  double changed = 0;
  Progress progress(label, loader.num_batches());
  std::int64_t done = 0;
  loader.start_epoch(0);
  std::int64_t offset = 0;
  while (auto batch = loader.next()) {
    torch::Tensor adversarial;
    const std::int64_t size = batch->x.size(0);
    if (whole_split.defined()) {
      adversarial = whole_split.slice(0, offset, offset + size).to(device);
    } else if (held != nullptr) {
      held->hold(batch->x);
      FrozenParameters frozen(model);  // the wrapper owns no parameters: freeze the model's
      adversarial = eval_attack.attack->perturb(*held, batch->x, batch->y);
    } else {
      adversarial = eval_attack.attack->perturb(model, batch->x, batch->y);
    }
    torch::NoGradGuard no_grad;
    torch::Tensor clean_routes;
    if (!layers.empty()) {
      model.forward(batch->x);
      clean_routes = top1_routes(layers);
      clean_routes_seen.push_back(clean_routes.cpu());
    }
    tally.add(held != nullptr ? held->forward(adversarial) : model.forward(adversarial), batch->y);
    if (!layers.empty()) {
      // The router view's last forward combined the clean images: the gates' route on x' is x''s own.
      if (router_attack) model.forward(adversarial);
      changed += top1_routes(layers).ne(clean_routes).any(1).sum().item<double>();
    }
    offset += size;
    progress.update(++done, fmt::format("acc {:.3f}", tally.accuracy()));
  }
  Pass pass = tally.pass();
  if (!layers.empty()) {
    pass.route_change = changed / static_cast<double>(std::max<std::int64_t>(1, loader.num_images()));
    pass.routes_changed = static_cast<std::int64_t>(changed);
    pass.modal_route_share = modal_route_share(torch::cat(clean_routes_seen));
  }
  progress.finish(fmt::format("acc {:.4f}  ({})", pass.accuracy, eval_attack.attack->describe()));
  return pass;
}

std::int64_t attack_batch_size(const EvalAttack& attack, const EvaluationOptions& options) {
  return attack.batch_size > 0 ? attack.batch_size : options.batch_size;
}

MoeLayer find_layer(Classifier& model, const std::string& name) {
  std::string names;
  for (auto& [layer_name, layer] : model.moe_layers()) {
    if (layer_name == name) return layer;
    names += (names.empty() ? "" : ", ") + layer_name;
  }
  throw ConfigError(
      fmt::format("eval.fixed_expert_layer = \"{}\" names no MoE layer of this model (its MoE layers: {})", name,
                  names.empty() ? "none" : names));
}

// Whether the fixed-expert passes run the attack recorded as `metric`.
bool in_fixed_expert_passes(const EvaluationOptions& options, const std::string& metric) {
  const std::vector<std::string> names = attack_name_list(options.fixed_expert_attacks);
  return names.empty() || std::find(names.begin(), names.end(), metric) != names.end();
}

// Resets a layer's fixed expert when it goes, also when an attack throws.
struct UnfixExpert {
  MoeLayer layer;
  ~UnfixExpert() { layer->set_fixed_expert(std::nullopt); }
};

// E passes at one layer, expert e forced on every image, each attacked anew; rows at expert e.
void fixed_expert_passes(Classifier& model, const LabelledImages& test, const EvaluationOptions& options,
                         torch::Device device, const std::vector<EvalAttack>& attacks, std::int64_t num_classes,
                         EvaluationResult& result) {
  MoeLayer layer = find_layer(model, options.fixed_expert_layer);
  const std::string& name = options.fixed_expert_layer;
  UnfixExpert unfix{layer};
  for (std::int64_t e = 0; e < layer->num_experts(); ++e) {
    layer->set_fixed_expert(e);
    BatchLoader loader(test, options.batch_size, device);
    const Pass clean = clean_pass(model, loader, num_classes, nullptr, fmt::format("eval {} expert {} clean", name, e));
    result.routing.push_back({name, e, "fixed_clean_acc", clean.accuracy});
    result.routing.push_back({name, e, "fixed_clean_loss", clean.loss});
    for (const EvalAttack& attack : attacks) {
      if (!in_fixed_expert_passes(options, attack.name)) continue;
      const Pass attacked = attacked_pass(model, test, attack_batch_size(attack, options), device, attack,
                                          fmt::format("eval {} expert {} {}", name, e, attack.name), nullptr, false);
      result.routing.push_back({name, e, "fixed_" + attack.name + "_acc", attacked.accuracy});
      result.routing.push_back({name, e, "fixed_" + attack.name + "_loss", attacked.loss});
    }
    ++result.fixed_expert_passes;
  }
}

// A dual model's members alone: <prefix>_clean_acc and <prefix>_<attack>_acc.
void member_passes(Classifier& member, const std::string& prefix, const LabelledImages& test,
                   const EvaluationOptions& options, torch::Device device, const std::vector<EvalAttack>& attacks,
                   std::int64_t num_classes, EvaluationResult& result) {
  BatchLoader loader(test, options.batch_size, device);
  result.metrics.emplace_back(prefix + "_clean_acc",
                              clean_pass(member, loader, num_classes, nullptr, "eval " + prefix + " clean").accuracy);
  for (const EvalAttack& attack : attacks) {
    const Pass attacked = attacked_pass(member, test, attack_batch_size(attack, options), device, attack,
                                        "eval " + prefix + " " + attack.name, nullptr, false);
    result.metrics.emplace_back(prefix + "_" + attack.name + "_acc", attacked.accuracy);
  }
}

// What the router attack of `rar` did beside the clean pass, for constant_router.
RouterAttackOutcome router_attack_outcome(const Pass& clean, const Pass& rar) {
  return RouterAttackOutcome{rar.correct.size(0), rar.modal_route_share, rar.routes_changed,
                             clean.correct.ne(rar.correct).sum().item<std::int64_t>()};
}

std::vector<ImageOutcome> image_outcomes(const Pass& clean, const std::vector<std::pair<std::string, Pass>>& attacked) {
  std::vector<ImageOutcome> outcomes(static_cast<std::size_t>(clean.correct.size(0)));
  const auto clean_right = clean.correct.accessor<bool, 1>();
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    ImageOutcome& outcome = outcomes[i];
    outcome.image = static_cast<std::int64_t>(i);
    outcome.clean_correct = clean_right[static_cast<std::int64_t>(i)];
    outcome.robust = outcome.clean_correct;
    if (!outcome.clean_correct) outcome.broken_by = "clean";
  }
  for (const auto& [name, pass] : attacked) {
    const auto right = pass.correct.accessor<bool, 1>();
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (outcomes[i].robust && !right[static_cast<std::int64_t>(i)]) {
        outcomes[i].robust = false;
        outcomes[i].broken_by = name;
      }
    }
  }
  return outcomes;
}

}  // namespace

void check_evaluation_options(Classifier& model, const EvaluationOptions& options) {
  const bool moe = !model.moe_layers().empty();
  if (options.route_attacks && !moe)
    throw ConfigError("eval.route_attacks = true needs a MoE model; this model has no MoE layer");
  if (options.route_change && !moe)
    throw ConfigError("eval.route_change = true needs a MoE model; this model has no MoE layer");
  if (!options.fixed_expert_layer.empty()) find_layer(model, options.fixed_expert_layer);
  if (options.dual_members && model.dual_model() == nullptr) {
    throw ConfigError("eval.dual_members = true needs a dual model (model.name = \"dual_moe\")");
  }
}

std::vector<ImageOutcome> combine_outcomes(const std::vector<ImageOutcome>& earlier,
                                           const std::vector<ImageOutcome>& later) {
  std::vector<ImageOutcome> combined = later;
  for (ImageOutcome& outcome : combined) {
    const auto it =
        std::find_if(earlier.begin(), earlier.end(), [&](const ImageOutcome& o) { return o.image == outcome.image; });
    if (it == earlier.end() || it->robust) continue;
    outcome.robust = false;
    outcome.broken_by = it->broken_by;
  }
  return combined;
}

double worst_case_accuracy(const std::vector<ImageOutcome>& outcomes) {
  if (outcomes.empty()) return 0.0;
  const auto robust = std::count_if(outcomes.begin(), outcomes.end(), [](const ImageOutcome& o) { return o.robust; });
  return static_cast<double>(robust) / static_cast<double>(outcomes.size());
}

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, const EvaluationOptions& options,
                          torch::Device device, const std::vector<EvalAttack>& attacks) {
  check_evaluation_options(model, options);
  model.eval();
  EvaluationResult result;
  const std::int64_t num_classes = test.size() > 0 ? test.labels.max().item<std::int64_t>() + 1 : 1;
  BatchLoader loader(test, options.batch_size, device);
  const Pass clean = clean_pass(model, loader, num_classes, &result);
  result.metrics.emplace_back("clean_acc", clean.accuracy);
  std::vector<std::pair<std::string, Pass>> attacked;
  for (const EvalAttack& attack : attacks) {
    const std::int64_t batch_size = attack_batch_size(attack, options);
    const Pass pass =
        attacked_pass(model, test, batch_size, device, attack, "eval " + attack.name, nullptr, options.route_change);
    result.metrics.emplace_back(attack.name + "_acc", pass.accuracy);
    if (pass.route_change >= 0) result.metrics.emplace_back(attack.name + "_route_change", pass.route_change);
    attacked.emplace_back(attack.name, pass);
    if (options.route_attacks) {
      for (const HeldPart part : {HeldPart::experts, HeldPart::router}) {
        const std::string suffix = part == HeldPart::experts ? "rae" : "rar";
        RouteHeldClassifier held(model, part);
        const Pass route_pass =
            attacked_pass(model, test, batch_size, device, attack, "eval " + attack.name + " " + suffix, &held, false);
        result.metrics.emplace_back(attack.name + "_" + suffix + "_acc", route_pass.accuracy);
        if (part == HeldPart::router) {
          result.checks.push_back(
              check_constant_router(attack.name + "_rar_acc", router_attack_outcome(clean, route_pass)));
        }
      }
    }
  }
  if (!attacks.empty()) {
    result.images = image_outcomes(clean, attacked);
    // With one attack the worst case is that attack (up to images it happens to fix): no new metric.
    if (attacks.size() > 1) result.metrics.emplace_back("worst_case_acc", worst_case_accuracy(result.images));
  }
  if (!options.fixed_expert_layer.empty()) {
    // Expert -1: the layer routed as trained (the evaluation above); then each expert forced.
    const std::string& name = options.fixed_expert_layer;
    result.routing.push_back({name, -1, "fixed_clean_acc", clean.accuracy});
    result.routing.push_back({name, -1, "fixed_clean_loss", clean.loss});
    for (const auto& [attack_name, pass] : attacked) {
      if (!in_fixed_expert_passes(options, attack_name)) continue;
      result.routing.push_back({name, -1, "fixed_" + attack_name + "_acc", pass.accuracy});
      result.routing.push_back({name, -1, "fixed_" + attack_name + "_loss", pass.loss});
    }
    fixed_expert_passes(model, test, options, device, attacks, num_classes, result);
  }
  if (options.dual_members) {
    DualModel& dual = *model.dual_model();
    member_passes(dual.standard(), "fs", test, options, device, attacks, num_classes, result);
    member_passes(dual.robust(), "fr", test, options, device, attacks, num_classes, result);
  }
  return result;
}

EvaluationResult evaluate(Classifier& model, const LabelledImages& test, std::int64_t batch_size, torch::Device device,
                          const std::vector<EvalAttack>& attacks) {
  EvaluationOptions options;
  options.batch_size = batch_size;
  return evaluate(model, test, options, device, attacks);
}

}  // namespace armor
