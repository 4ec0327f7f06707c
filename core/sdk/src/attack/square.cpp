#include "armor/attack/square.h"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/attack_loss.h"
#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/threat_model.h"
#include "armor/nn/classifier.h"

namespace armor {
namespace {

using torch::indexing::Slice;

// The reference's draws: sign(2u - 1) and floor(low + (high - low) u), u uniform in [0,1).
torch::Tensor random_signs(at::IntArrayRef shape, at::Generator& generator) {
  return torch::sign(2 * torch::rand(shape, generator) - 1);
}

std::int64_t random_int(std::int64_t low, std::int64_t high, at::Generator& generator) {
  return (static_cast<double>(low) + static_cast<double>(high - low) * torch::rand({1}, generator))
      .to(torch::kLong)
      .item<std::int64_t>();
}

}  // namespace

Square::Square(SquareOptions options) : options_(options) {
  TORCH_CHECK(options_.eps() >= 0, "Square eps must be >= 0 (got ", options_.eps(), ")");
  TORCH_CHECK(options_.queries() >= 1, "Square queries must be >= 1 (got ", options_.queries(), ")");
  TORCH_CHECK(options_.p_init() > 0 && options_.p_init() <= 1, "Square p_init must be in (0,1] (got ",
              options_.p_init(), ")");
  TORCH_CHECK(options_.restarts() >= 1, "Square restarts must be >= 1 (got ", options_.restarts(), ")");
}

double Square::window_fraction(std::int64_t query) const {
  std::int64_t it = query;
  if (options_.rescale_schedule()) {
    it = static_cast<std::int64_t>(static_cast<double>(query) / static_cast<double>(options_.queries()) * 10000);
  }
  static const std::int64_t kBounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = options_.p_init();
  for (const std::int64_t bound : kBounds) {
    if (it <= bound) break;
    p /= 2;
  }
  return p;
}

torch::Tensor Square::single_run(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                 at::Generator& generator) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const double eps = options_.eps();
  const auto margin_of = [&](const torch::Tensor& images, const torch::Tensor& labels) {
    return logit_margin(model.forward(images), labels);
  };
  torch::Tensor best = torch::clamp(x + eps * random_signs({n, c, 1, w}, generator).to(x.device()), 0.0, 1.0);
  torch::Tensor margin_min = margin_of(best, y);
  torch::Tensor loss_min = margin_min.clone();
  for (std::int64_t query = 0; query < options_.queries(); ++query) {
    const torch::Tensor index = (margin_min > 0.0).nonzero().view(-1);
    if (index.numel() == 0) break;
    const torch::Tensor x_curr = x.index_select(0, index);
    const torch::Tensor best_curr = best.index_select(0, index);
    const torch::Tensor y_curr = y.index_select(0, index);
    const torch::Tensor margin_curr = margin_min.index_select(0, index);
    const torch::Tensor loss_curr = loss_min.index_select(0, index);

    const double p = window_fraction(query);
    const auto side = std::max<std::int64_t>(static_cast<std::int64_t>(std::nearbyint(std::sqrt(
                                                 p * static_cast<double>(c * h * w) / static_cast<double>(c)))),
                                             1);
    const std::int64_t top = random_int(0, h - side, generator);
    const std::int64_t left = random_int(0, w - side, generator);
    torch::Tensor deltas = torch::zeros({c, h, w}, x.options());
    deltas.index_put_({Slice(), Slice(top, top + side), Slice(left, left + side)},
                      2. * eps * random_signs({c, 1, 1}, generator).to(x.device()));
    const torch::Tensor candidate = project_linf(best_curr + deltas, x_curr, eps);
    const torch::Tensor margin = margin_of(candidate, y_curr);
    const torch::Tensor loss = margin;

    torch::Tensor improved = (loss < loss_curr).to(x.scalar_type());
    loss_min.index_copy_(0, index, improved * loss + (1. - improved) * loss_curr);
    improved = torch::max(improved, (margin <= 0.).to(x.scalar_type()));
    margin_min.index_copy_(0, index, improved * margin + (1. - improved) * margin_curr);
    const torch::Tensor keep = improved.view({-1, 1, 1, 1});
    best.index_copy_(0, index, keep * candidate + (1. - keep) * best_curr);
  }
  return best;
}

torch::Tensor Square::perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  TORCH_CHECK(x.dim() == 4, "Square expects images [N,C,H,W] (got ", x.sizes(), ")");
  FrozenParameters frozen(model);
  torch::NoGradGuard no_grad;
  const torch::Tensor clean = x.detach().to(torch::kFloat);
  torch::Tensor adversarial = clean.clone();
  torch::Tensor robust = model.forward(clean).argmax(1).eq(y);
  at::Generator generator = seeded_generator(options_.seed());
  for (std::int64_t restart = 0; restart < options_.restarts(); ++restart) {
    const torch::Tensor index = robust.nonzero().view(-1);
    if (index.numel() == 0) break;
    const torch::Tensor x_run = clean.index_select(0, index);
    const torch::Tensor y_run = y.index_select(0, index);
    const torch::Tensor candidate = single_run(model, x_run, y_run, generator);
    record_fooled(robust, adversarial, index, candidate, model.forward(candidate).argmax(1).ne(y_run));
  }
  return adversarial;
}

std::string Square::describe() const {
  return fmt::format("Square Linf eps={:.5g} queries={} p_init={} restarts={}{} seed={}", options_.eps(),
                     options_.queries(), options_.p_init(), options_.restarts(),
                     options_.rescale_schedule() ? " rescaled-schedule" : "", options_.seed());
}

}  // namespace armor
