// attack/pgd: projected gradient descent in L-infinity (Madry et al. 2018), on the cross-entropy.
// x [N,C,H,W] in [0,1], y [N] -> x_adv with |x_adv - x|_inf <= eps, in [0,1]. Optional uniform
// random start in the eps-ball; steps of step_size along sign(grad); projection after each step.
// Only the input's gradient is computed (no parameter gradients); the model's mode is untouched.

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack.h"
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
        random_start_(params.boolean("random_start")) {}

  torch::Tensor perturb(armor::Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override {
    torch::Tensor adversarial = x.detach();
    if (random_start_) {
      adversarial = (adversarial + torch::empty_like(adversarial).uniform_(-eps_, eps_)).clamp(0.0, 1.0);
    }
    const torch::Tensor lower = (x - eps_).clamp_min(0.0);
    const torch::Tensor upper = (x + eps_).clamp_max(1.0);
    for (std::int64_t step = 0; step < steps_; ++step) {
      adversarial.requires_grad_(true);
      const torch::Tensor loss =
          torch::nn::functional::cross_entropy(model.forward(adversarial), y,
                                               torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
      const torch::Tensor gradient = torch::autograd::grad({loss}, {adversarial})[0];
      adversarial = torch::min(torch::max(adversarial.detach() + step_size_ * gradient.sign(), lower), upper);
    }
    return adversarial.detach();
  }

  std::string describe() const override {
    return fmt::format("PGD-{} Linf eps={:.5g} step={:.5g}{}", steps_, eps_, step_size_,
                       random_start_ ? " random-start" : "");
  }

 private:
  double eps_;
  double step_size_;
  std::int64_t steps_;
  bool random_start_;
};

void register_pgd(armor::Registry& registry) {
  registry.add_attack("pgd", "Projected gradient descent, L-infinity, cross-entropy (Madry et al.)",
                      armor::ParamSchema()
                          .real("eps", 8.0 / 255.0, "L-infinity radius in [0,1] pixel units (accepts 8/255)", 0, 1)
                          .real("step_size", 2.0 / 255.0, "Step size per iteration", 0)
                          .integer("steps", 10, "Iterations", 0)
                          .boolean("random_start", true, "Start from a uniform random point in the eps-ball"),
                      [](const armor::Params& params) { return std::make_shared<Pgd>(params); });
}

}  // namespace

ARMOR_PLUGIN("pgd", "1.0", register_pgd)
