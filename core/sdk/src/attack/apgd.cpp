#include "armor/attack/apgd.h"

#include <algorithm>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/nn/classifier.h"

namespace armor {
namespace {

// One restart on images x [n,...] (all correctly classified): whether each stayed correct
// throughout [n] bool, and the latest misclassified iterate [n,...] (else the start point).
struct RunResult {
  torch::Tensor robust;
  torch::Tensor adversarial;
};

// The input gradient averaged over `passes` forward/backward passes, accumulated from zero as the
// reference does; logits and loss of the last pass. One pass is input_gradient itself.
InputGradient eot_gradient(Classifier& model, const torch::Tensor& x, const PerImageLoss& loss, std::int64_t passes) {
  if (passes == 1) return input_gradient(model, x, loss);
  torch::Tensor sum = torch::zeros_like(x);
  InputGradient last;
  for (std::int64_t pass = 0; pass < passes; ++pass) {
    last = input_gradient(model, x, loss);
    sum += last.gradient;
  }
  last.gradient = sum / static_cast<double>(passes);
  return last;
}

RunResult single_run(Classifier& model, const ApgdOptions& options, const torch::Tensor& x, const torch::Tensor& y,
                     const PerImageLoss& loss, at::Generator& generator) {
  const double eps = options.eps();
  const Norm norm = options.norm();
  const std::int64_t steps = options.steps();
  const std::int64_t n = x.size(0);
  const std::vector<std::int64_t> checkpoints = apgd_checkpoints(steps);

  torch::Tensor x_adv = random_start_on_sphere(norm, x, eps, generator);
  torch::Tensor x_best = x_adv.clone();
  torch::Tensor x_best_adv = x_adv.clone();
  // Losses of every step; the oscillation check reads entries before step 0 (index -1 wraps to
  // the last, not yet written, zero row) exactly as the reference does.
  torch::Tensor loss_steps = torch::zeros({steps, n}, x.options());

  InputGradient current = eot_gradient(model, x_adv, loss, options.eot_iterations());
  torch::Tensor gradient = current.gradient;
  torch::Tensor gradient_best = gradient.clone();
  torch::NoGradGuard no_grad;
  torch::Tensor robust = current.logits.argmax(1).eq(y);
  torch::Tensor loss_best = current.loss.clone();

  torch::Tensor step_size = 2.0 * eps * torch::ones(std::vector<std::int64_t>{n, 1, 1, 1}, x.options());
  torch::Tensor x_adv_old = x_adv.clone();
  std::size_t next_checkpoint = 0;
  std::int64_t window = checkpoints.empty() ? 0 : checkpoints[0];
  std::int64_t since_check = 0;
  torch::Tensor loss_best_last_check = loss_best.clone();
  torch::Tensor reduced_last_check = torch::ones_like(loss_best);

  for (std::int64_t i = 0; i < steps; ++i) {
    const torch::Tensor momentum = x_adv - x_adv_old;
    x_adv_old = x_adv.clone();
    const double a = i > 0 ? 0.75 : 1.0;
    torch::Tensor z;
    if (norm == Norm::linf) {
      z = project_linf(x_adv + step_size * torch::sign(gradient), x, eps);
      z = project_linf(x_adv + (z - x_adv) * a + momentum * (1 - a), x, eps);
    } else {
      z = project(Norm::l2, x_adv + step_size * normalize_per_image(Norm::l2, gradient), x, eps);
      z = project(Norm::l2, x_adv + (z - x_adv) * a + momentum * (1 - a), x, eps);
    }
    x_adv = z;

    current = eot_gradient(model, x_adv, loss, options.eot_iterations());
    gradient = current.gradient;
    const torch::Tensor correct = current.logits.argmax(1).eq(y);
    robust = torch::logical_and(robust, correct);
    x_best_adv = torch::where(per_image_view(correct, x.dim()), x_best_adv, x_adv);

    loss_steps[i] = current.loss;
    const torch::Tensor improved = current.loss > loss_best;
    x_best = torch::where(per_image_view(improved, x.dim()), x_adv, x_best);
    gradient_best = torch::where(per_image_view(improved, x.dim()), gradient, gradient_best);
    loss_best = torch::where(improved, current.loss, loss_best);

    if (++since_check == window) {
      // Oscillation: the loss rose in at most rho of the window's steps.
      torch::Tensor rises = torch::zeros({n}, x.options());
      for (std::int64_t back = 0; back < window; ++back) {
        const std::int64_t now = ((i - back) % steps + steps) % steps;
        const std::int64_t before = ((i - back - 1) % steps + steps) % steps;
        rises += (loss_steps[now] > loss_steps[before]).to(x.scalar_type());
      }
      torch::Tensor reduce = (rises <= static_cast<double>(window) * options.rho()).to(x.scalar_type());
      const torch::Tensor no_improvement =
          (1.0 - reduced_last_check) * (loss_best_last_check >= loss_best).to(x.scalar_type());
      reduce = torch::max(reduce, no_improvement);
      reduced_last_check = reduce.clone();
      loss_best_last_check = loss_best.clone();
      const torch::Tensor halve = reduce > 0;
      step_size = torch::where(per_image_view(halve, x.dim()), step_size / 2.0, step_size);
      x_adv = torch::where(per_image_view(halve, x.dim()), x_best, x_adv);
      gradient = torch::where(per_image_view(halve, x.dim()), gradient_best, gradient);
      ++next_checkpoint;
      window =
          next_checkpoint < checkpoints.size() ? checkpoints[next_checkpoint] - checkpoints[next_checkpoint - 1] : 0;
      since_check = 0;
    }
  }
  return {robust, x_best_adv};
}

}  // namespace

std::vector<std::int64_t> apgd_checkpoints(std::int64_t steps) {
  const auto fraction = [steps](double share) {
    return std::max<std::int64_t>(static_cast<std::int64_t>(share * static_cast<double>(steps)), 1);
  };
  const std::int64_t shrink = fraction(0.03);
  const std::int64_t smallest = fraction(0.06);
  std::vector<std::int64_t> checkpoints;
  std::int64_t window = fraction(0.22);
  for (std::int64_t at = window; at <= steps; at += window) {
    checkpoints.push_back(at);
    window = std::max(window - shrink, smallest);
  }
  return checkpoints;
}

Apgd::Apgd(ApgdOptions options) : options_(options) {
  TORCH_CHECK(options_.eps() >= 0, "APGD eps must be >= 0 (got ", options_.eps(), ")");
  TORCH_CHECK(options_.steps() >= 1, "APGD steps must be >= 1 (got ", options_.steps(), ")");
  TORCH_CHECK(options_.restarts() >= 1, "APGD restarts must be >= 1 (got ", options_.restarts(), ")");
  TORCH_CHECK(options_.eot_iterations() >= 1, "APGD eot_iterations must be >= 1 (got ", options_.eot_iterations(), ")");
  TORCH_CHECK(!options_.targeted() || options_.target_classes() >= 1, "APGD-T target_classes must be >= 1 (got ",
              options_.target_classes(), ")");
}

torch::Tensor Apgd::perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  FrozenParameters frozen(model);
  const torch::Tensor clean = x.detach().to(torch::kFloat);
  torch::Tensor adversarial = clean.clone();
  torch::Tensor robust = predict_labels(model, clean).eq(y);
  at::Generator generator = seeded_generator(options_.seed());

  const std::int64_t targets = options_.targeted() ? options_.target_classes() : 1;
  for (std::int64_t target = 0; target < targets; ++target) {
    for (std::int64_t restart = 0; restart < options_.restarts(); ++restart) {
      const torch::Tensor index = robust.nonzero().view(-1);
      if (index.numel() == 0) return adversarial;
      const torch::Tensor x_run = clean.index_select(0, index);
      const torch::Tensor y_run = y.index_select(0, index);
      PerImageLoss loss;
      if (options_.targeted()) {
        torch::Tensor logits;
        {
          torch::NoGradGuard no_grad;
          logits = model.forward(x_run);
        }
        TORCH_CHECK(target + 2 <= logits.size(1), "APGD-T target_classes = ", options_.target_classes(),
                    " needs at least ", target + 2, " classes (the model has ", logits.size(1), ")");
        const torch::Tensor target_labels = std::get<1>(logits.sort(1)).select(1, logits.size(1) - 2 - target);
        loss = [y_run, target_labels](const torch::Tensor& z) { return targeted_dlr_loss(z, y_run, target_labels); };
      } else {
        const AttackLoss kind = options_.loss();
        loss = [y_run, kind](const torch::Tensor& z) { return attack_loss(kind, z, y_run); };
      }
      const RunResult result = single_run(model, options_, x_run, y_run, loss, generator);
      record_fooled(robust, adversarial, index, result.adversarial, result.robust.logical_not());
    }
  }
  return adversarial;
}

std::string Apgd::describe() const {
  const std::string kind = options_.targeted()
                               ? fmt::format("APGD-T ({} targets)", options_.target_classes())
                               : fmt::format("APGD-{}", options_.loss() == AttackLoss::cross_entropy ? "CE" : "DLR");
  const std::string eot =
      options_.eot_iterations() > 1 ? fmt::format(" eot={}", options_.eot_iterations()) : std::string();
  return fmt::format("{} {} eps={:.5g} steps={} restarts={} rho={}{} seed={}", kind, to_string(options_.norm()),
                     options_.eps(), options_.steps(), options_.restarts(), options_.rho(), eot, options_.seed());
}

}  // namespace armor
