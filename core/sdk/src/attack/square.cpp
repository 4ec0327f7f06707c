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

// The reference's eta_rectangles(rows, cols) in L2: concentric rectangles around the centre, the
// k-th weighted 1/(k+1)^2 (computed in float as the reference does), normalised to unit L2 norm.
torch::Tensor eta_rectangles(std::int64_t rows, std::int64_t cols, const torch::TensorOptions& options) {
  torch::Tensor delta = torch::zeros({rows, cols}, options);
  std::int64_t top = rows / 2, left = cols / 2;  // x_c - 1, y_c - 1
  for (std::int64_t k = 0; k < std::max(rows / 2 + 1, cols / 2 + 1); ++k) {
    const torch::Tensor weight = 1.0 / torch::full({1, 1}, static_cast<double>(k + 1), options).pow(2);
    delta
        .index({Slice(std::max<std::int64_t>(top, 0), std::min(top + 2 * k + 1, rows)),
                Slice(std::max<std::int64_t>(left, 0), std::min(left + 2 * k + 1, cols))})
        .add_(weight);
    --top;
    --left;
  }
  return delta / delta.pow(2).sum(at::IntArrayRef{0, 1}, true).sqrt();
}

// The reference's eta(s): the upper half +eta_rectangles, the lower half -eta_rectangles, normalised,
// transposed when a uniform draw exceeds 0.5. [s,s]
torch::Tensor eta_window(std::int64_t s, const torch::TensorOptions& options, at::Generator& generator) {
  torch::Tensor delta = torch::zeros({s, s}, options);
  delta.index_put_({Slice(0, s / 2)}, eta_rectangles(s / 2, s, options));
  delta.index_put_({Slice(s / 2, torch::indexing::None)}, -1. * eta_rectangles(s - s / 2, s, options));
  delta = delta / delta.pow(2).sum(at::IntArrayRef{0, 1}, true).sqrt();
  if (torch::rand({1}, generator).item<double>() > 0.5) delta = delta.permute({1, 0});
  return delta;
}

// x / (its per-image L2 norm + 1e-12), and that norm as [n,1,1,1].
torch::Tensor l2_normalized(const torch::Tensor& x) {
  return x / (x.pow(2).flatten(1).sum(-1).sqrt().view({-1, 1, 1, 1}) + 1e-12);
}
torch::Tensor l2_norm_view(const torch::Tensor& x) { return x.pow(2).flatten(1).sum(-1).sqrt().view({-1, 1, 1, 1}); }

// The search state of one run: per image the best point so far, its margin and its loss.
struct SearchState {
  torch::Tensor best;
  torch::Tensor margin_min;
  torch::Tensor loss_min;
};

// The reference's acceptance: an image of `index` takes its candidate when the loss improved or the
// candidate is misclassified (margin <= 0); its loss only when the loss improved.
void keep_improvements(const torch::Tensor& index, const torch::Tensor& candidate, const torch::Tensor& margin,
                       const torch::Tensor& loss, SearchState& state) {
  const torch::Tensor best_curr = state.best.index_select(0, index);
  const torch::Tensor margin_curr = state.margin_min.index_select(0, index);
  const torch::Tensor loss_curr = state.loss_min.index_select(0, index);
  torch::Tensor improved = (loss < loss_curr).to(candidate.scalar_type());
  state.loss_min.index_copy_(0, index, improved * loss + (1. - improved) * loss_curr);
  improved = torch::max(improved, (margin <= 0.).to(candidate.scalar_type()));
  state.margin_min.index_copy_(0, index, improved * margin + (1. - improved) * margin_curr);
  const torch::Tensor keep = improved.view({-1, 1, 1, 1});
  state.best.index_copy_(0, index, keep * candidate + (1. - keep) * best_curr);
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
  SearchState state;
  state.best = torch::clamp(x + eps * random_signs({n, c, 1, w}, generator).to(x.device()), 0.0, 1.0);
  state.margin_min = margin_of(state.best, y);
  state.loss_min = state.margin_min.clone();
  for (std::int64_t query = 0; query < options_.queries(); ++query) {
    const torch::Tensor index = (state.margin_min > 0.0).nonzero().view(-1);
    if (index.numel() == 0) break;
    const torch::Tensor x_curr = x.index_select(0, index);
    const torch::Tensor best_curr = state.best.index_select(0, index);
    const torch::Tensor y_curr = y.index_select(0, index);

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

    keep_improvements(index, candidate, margin, loss, state);
  }
  return state.best;
}

torch::Tensor Square::single_run_l2(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                                    at::Generator& generator) {
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(h >= 5 && w >= 5, "L2 Square needs images of at least 5 x 5 pixels (got ", h, " x ", w, ")");
  const double eps = options_.eps();
  const auto cpu = torch::TensorOptions().dtype(x.scalar_type());
  const auto margin_of = [&](const torch::Tensor& images, const torch::Tensor& labels) {
    return logit_margin(model.forward(images), labels);
  };
  // The start: a grid of +-eta windows of side h / 5 (one sign per image and channel).
  torch::Tensor start = torch::zeros_like(x);
  const std::int64_t s0 = h / 5;
  const std::int64_t offset = (h - s0 * 5) / 2;
  for (std::int64_t row = 0, top = offset; row < h / s0; ++row, top += s0) {
    for (std::int64_t col = 0, left = offset; col < w / s0; ++col, left += s0) {
      const torch::Tensor window = eta_window(s0, cpu, generator).view({1, 1, s0, s0});
      const torch::Tensor signs = random_signs({n, c, 1, 1}, generator);
      start.index({Slice(), Slice(), Slice(top, top + s0), Slice(left, left + s0)})
          .add_((window * signs).to(x.device()));
    }
  }
  SearchState state;
  state.best = torch::clamp(x + l2_normalized(start) * eps, 0.0, 1.0);
  state.margin_min = margin_of(state.best, y);
  state.loss_min = state.margin_min.clone();
  for (std::int64_t query = 0; query < options_.queries(); ++query) {
    const torch::Tensor index = (state.margin_min > 0.0).nonzero().view(-1);
    if (index.numel() == 0) break;
    const torch::Tensor x_curr = x.index_select(0, index);
    const torch::Tensor best_curr = state.best.index_select(0, index);
    const torch::Tensor y_curr = y.index_select(0, index);
    torch::Tensor delta = best_curr - x_curr;

    const double p = window_fraction(query);
    std::int64_t s = std::max<std::int64_t>(static_cast<std::int64_t>(std::nearbyint(std::sqrt(
                                                p * static_cast<double>(c * h * w) / static_cast<double>(c)))),
                                            3);
    if (s % 2 == 0) ++s;
    s = std::min(s, std::min(h, w));
    const std::int64_t top = random_int(0, h - s, generator);
    const std::int64_t left = random_int(0, w - s, generator);
    const auto first = [&](const torch::Tensor& t) {
      return t.index({Slice(), Slice(), Slice(top, top + s), Slice(left, left + s)});
    };
    const torch::Tensor norms_window_1 = first(delta).pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();
    const std::int64_t top2 = random_int(0, h - s, generator);
    const std::int64_t left2 = random_int(0, w - s, generator);
    torch::Tensor both = torch::zeros_like(x_curr);
    first(both).fill_(1.0);
    both.index({Slice(), Slice(), Slice(top2, top2 + s), Slice(left2, left2 + s)}).fill_(1.0);
    const torch::Tensor norms_image = l2_norm_view(best_curr - x_curr);
    const torch::Tensor norms_windows = (delta * both).pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt();

    const torch::Tensor window = eta_window(s, cpu, generator).view({1, 1, s, s});
    const torch::Tensor signs = random_signs({index.numel(), c, 1, 1}, generator);
    torch::Tensor fresh = torch::ones({index.numel(), c, s, s}, x.options()) * (window * signs).to(x.device());
    fresh = fresh + first(delta) / (1e-12 + norms_window_1);
    fresh = fresh / (1e-12 + fresh.pow(2).sum(at::IntArrayRef{-2, -1}, true).sqrt()) *
            (torch::max((eps * torch::ones_like(fresh)).pow(2) - norms_image.pow(2), torch::zeros_like(fresh)) /
                 static_cast<double>(c) +
             norms_windows.pow(2))
                .sqrt();
    delta.index({Slice(), Slice(), Slice(top2, top2 + s), Slice(left2, left2 + s)}).fill_(0.0);
    first(delta).copy_(fresh);

    const torch::Tensor candidate = torch::clamp(x_curr + l2_normalized(delta) * eps, 0.0, 1.0);
    const torch::Tensor margin = margin_of(candidate, y_curr);
    const torch::Tensor& loss = margin;
    keep_improvements(index, candidate, margin, loss, state);
  }
  return state.best;
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
    const torch::Tensor candidate = options_.norm() == Norm::l2 ? single_run_l2(model, x_run, y_run, generator)
                                                                : single_run(model, x_run, y_run, generator);
    record_fooled(robust, adversarial, index, candidate, model.forward(candidate).argmax(1).ne(y_run));
  }
  return adversarial;
}

std::string Square::describe() const {
  return fmt::format("Square {} eps={:.5g} queries={} p_init={} restarts={}{} seed={}", to_string(options_.norm()),
                     options_.eps(), options_.queries(), options_.p_init(), options_.restarts(),
                     options_.rescale_schedule() ? " rescaled-schedule" : "", options_.seed());
}

}  // namespace armor
