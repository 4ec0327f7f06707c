// attack/pgd: projected gradient descent (Madry et al. 2018) in L-infinity or L2, on the
// cross-entropy or the DLR loss. x [N,C,H,W] in [0,1], y [N] -> x_adv with |x_adv - x|_p <= eps, in
// [0,1]. Optional uniform random start in the eps-ball (L2: radius eps * U^(1/d)); steps of step_size along sign(grad) (Linf)
// or grad/|grad|_2 (L2); projection after each step. With restarts, each image keeps its worst
// point: the first restart that misclassifies it, else the highest-loss final point.
// Only the input's gradient is computed (parameters frozen); the model's mode is untouched.

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
#include "armor/attack/attack_loss.h"
#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/threat_model.h"
#include "armor/nn/classifier.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

class Pgd : public armor::Attack {
 public:
  explicit Pgd(const armor::Params& params)
      : eps_(params.real("eps")),
        step_size_(params.real("step_size")),
        steps_(params.integer("steps")),
        restarts_(params.integer("restarts")),
        random_start_(params.boolean("random_start")),
        norm_(armor::norm_from_string(params, "norm")),
        loss_(armor::attack_loss_from_string(params, "loss")) {}

  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    armor::FrozenParameters frozen(model);
    const auto loss = [&](const torch::Tensor& logits) { return armor::attack_loss(loss_, logits, y); };
    torch::Tensor worst;
    torch::Tensor worst_loss;
    torch::Tensor worst_fooled;
    for (std::int64_t restart = 0; restart < restarts_; ++restart) {
      torch::Tensor adversarial = random_start_ ? random_point(x) : x.detach();
      for (std::int64_t step = 0; step < steps_; ++step) {
        const torch::Tensor gradient = armor::input_gradient(model, adversarial, loss).gradient;
        torch::NoGradGuard no_grad;
        const torch::Tensor direction =
            norm_ == armor::Norm::linf ? gradient.sign() : armor::normalize_per_image(armor::Norm::l2, gradient);
        adversarial = armor::project(norm_, adversarial + step_size_ * direction, x, eps_);
      }
      if (restarts_ == 1) return adversarial;
      torch::NoGradGuard no_grad;
      const torch::Tensor logits = model.forward(adversarial);
      const torch::Tensor fooled = logits.argmax(1).ne(y);
      const torch::Tensor value = loss(logits);
      if (restart == 0) {
        worst = adversarial, worst_loss = value, worst_fooled = fooled;
        continue;
      }
      const torch::Tensor replace =
          torch::logical_and(worst_fooled.logical_not(), torch::logical_or(fooled, value > worst_loss));
      worst = torch::where(replace.view({-1, 1, 1, 1}), adversarial, worst);
      worst_loss = torch::where(replace, value, worst_loss);
      worst_fooled = torch::logical_or(worst_fooled, fooled);
    }
    return worst;
  }

  std::optional<armor::ThreatBall> threat_ball() const override { return armor::ThreatBall{norm_, eps_}; }
  std::string describe() const override {
    return fmt::format("PGD-{} {} {} eps={:.5g} step={:.5g}{}{}", steps_, armor::to_string(norm_),
                       armor::to_string(loss_), eps_, step_size_, random_start_ ? " random-start" : "",
                       restarts_ > 1 ? fmt::format(" restarts={}", restarts_) : "");
  }

 private:
  // Uniform in the ball, then clipped to [0,1]. L-infinity: uniform per pixel. L2: a uniform
  // direction (normalised Gaussian) at radius eps * U^(1/d), U uniform in [0,1] and d the number of
  // values in one image: the radius of a uniform point of the d-dimensional ball (P(r <= t) = (t/eps)^d),
  // so in high dimensions nearly all starts lie close to the sphere.
  torch::Tensor random_point(const torch::Tensor& x) const {
    torch::NoGradGuard no_grad;
    if (norm_ == armor::Norm::linf) return (x + torch::empty_like(x).uniform_(-eps_, eps_)).clamp(0.0, 1.0);
    const torch::Tensor direction = armor::normalize_per_image(armor::Norm::l2, torch::randn_like(x));
    const auto dims = static_cast<double>(std::max<std::int64_t>(1, x.size(0) > 0 ? x.numel() / x.size(0) : 1));
    const torch::Tensor radius = eps_ * torch::rand({x.size(0)}, x.options()).pow(1.0 / dims);
    return (x + direction * radius.view({-1, 1, 1, 1})).clamp(0.0, 1.0);
  }

  double eps_;
  double step_size_;
  std::int64_t steps_;
  std::int64_t restarts_;
  bool random_start_;
  armor::Norm norm_;
  armor::AttackLoss loss_;
};

// Pixels lie in [0,1]: an L-infinity ball wider than 1 is the whole image box, surely a typo (2
// for 2/255). (An L2 radius is checked against the image box's diameter when the run is planned.)
void check_linf_eps(const armor::Params& params) {
  if (params.string("norm") == "Linf" && params.real("eps") > 1)
    params.fail("eps", "must be <= 1 for norm = \"Linf\" (pixels lie in [0,1])");
}

void register_pgd(armor::Registry& registry) {
  registry.add_attack("pgd", "Projected gradient descent, L-infinity or L2, CE or DLR loss, restarts (Madry et al.)",
                      armor::ParamSchema()
                          .real("eps", 8.0 / 255.0, "Radius in [0,1] pixel units (accepts 8/255; Linf: at most 1)", 0)
                          .real("step_size", 2.0 / 255.0, "Step size per iteration", 0)
                          .integer("steps", 10, "Iterations", 1)
                          .boolean("random_start", true, "Start from a uniform random point in the eps-ball")
                          .string("norm", "Linf", "Threat model", {"Linf", "L2"})
                          .string("loss", "ce", "Loss to maximise: cross-entropy or DLR", {"ce", "dlr"})
                          .integer("restarts", 1, "Random restarts; each image keeps its worst point", 1)
                          .check(check_linf_eps),
                      [](const armor::Params& params) { return std::make_shared<Pgd>(params); });
}

}  // namespace

ARMOR_PLUGIN("pgd", "1.1", register_pgd)
