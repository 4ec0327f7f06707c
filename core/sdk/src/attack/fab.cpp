#include "armor/attack/fab.h"

#include <cmath>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/frozen_parameters.h"
#include "armor/attack/input_gradient.h"
#include "armor/attack/threat_model.h"
#include "armor/nn/classifier.h"

namespace armor {
namespace {

using torch::indexing::Slice;

// The linearised boundary FAB projects onto: w x = b with w [n,D], b [n], nearest (in the norm's
// dual: L1 for L-inf, L2 for L2) among the gaps z_k - z_y at `point`. Untargeted: every class k != y (the reference's
// get_diff_logits_grads_batch, one backward per class); targeted: the one gap z_t - z_y.
struct Hyperplane {
  torch::Tensor w;
  torch::Tensor b;
};

Hyperplane nearest_hyperplane(Classifier& model, const torch::Tensor& point, const torch::Tensor& labels,
                              const torch::Tensor& targets, Norm norm) {
  const std::int64_t n = point.size(0);
  if (targets.defined()) {
    const InputGradient linear = input_gradient(model, point, [&](const torch::Tensor& z) {
      return -(z.gather(1, labels.unsqueeze(1)).squeeze(1) - z.gather(1, targets.unsqueeze(1)).squeeze(1));
    });
    return {linear.gradient.reshape({n, -1}), -linear.loss + (linear.gradient * point).reshape({n, -1}).sum(-1)};
  }
  torch::AutoGradMode enable(true);
  const torch::Tensor input = point.detach().requires_grad_(true);
  const torch::Tensor logits = model.forward(input);
  const std::int64_t classes = logits.size(1);
  std::vector<torch::Tensor> gradients;  // [n,D] per class
  for (std::int64_t k = 0; k < classes; ++k) {
    gradients.push_back(
        torch::autograd::grad({logits.select(1, k).sum()}, {input}, {}, /*retain_graph=*/k + 1 < classes)[0].reshape(
            {n, -1}));
  }
  const torch::NoGradGuard no_grad;
  const torch::Tensor g = torch::stack(gradients, 1);  // [n,K,D]
  const torch::Tensor z = logits.detach();
  const torch::Tensor rows = torch::arange(n, labels.options());
  torch::Tensor df = z - z.gather(1, labels.unsqueeze(1));
  const torch::Tensor dg = g - g.index({rows, labels}).unsqueeze(1);
  df.index_put_({rows, labels}, 1e10);
  // The distance to each hyperplane in the attack's norm: |gap| over the gradient's dual norm.
  const torch::Tensor dual = norm == Norm::linf ? dg.abs().sum(-1) : dg.pow(2).sum(-1).sqrt();
  const torch::Tensor distance = df.abs() / (1e-12 + dual);
  const torch::Tensor nearest = distance.argmin(1);
  const torch::Tensor w = dg.index({rows, nearest});
  return {w, -df.index({rows, nearest}) + (w * point.reshape({n, -1})).sum(-1)};
}

}  // namespace

torch::Tensor fab_projection_linf(const torch::Tensor& points, const torch::Tensor& w_in, const torch::Tensor& b_in) {
  const torch::Tensor& t = points;
  const std::int64_t features = w_in.size(1);
  const torch::Tensor sign = ((w_in * t).sum(1) - b_in >= 0).to(t.scalar_type()) * 2 - 1;
  const torch::Tensor w = w_in * sign.unsqueeze(1);
  torch::Tensor b = b_in * sign;

  const torch::Tensor a = (w < 0).to(t.scalar_type());
  const torch::Tensor nonzero = (w != 0).to(t.scalar_type());
  torch::Tensor d = (a - t) * nonzero;
  const torch::Tensor p = a - t * (2 * a - 1);
  const torch::Tensor order = torch::argsort(p, std::int64_t{1}, /*descending=*/false);

  b = b - (w * t).sum(1);
  const torch::Tensor b0 = (w * d).sum(1);
  const torch::Tensor reversed = order.flip({1});
  const torch::Tensor ws = w.gather(1, reversed);
  const torch::Tensor bs2 = -ws * d.gather(1, reversed);
  const torch::Tensor s = torch::cumsum(ws.abs(), 1);
  const torch::Tensor sb = torch::cumsum(bs2, 1) + b0.unsqueeze(1);

  const torch::Tensor b2 =
      sb.select(1, -1) - s.select(1, -1) * p.gather(1, order.index({Slice(), Slice(0, 1)})).squeeze(1);
  const torch::Tensor beyond = b - b2 > 0;
  const torch::Tensor inside = torch::logical_and(b - b0 > 0, b - b2 <= 0);

  // Binary search, per point inside, for the number of coordinates that reach their bound.
  const std::int64_t count = inside.sum().item<std::int64_t>();
  torch::Tensor lower = torch::zeros({count}, t.options());
  torch::Tensor upper = torch::full({count}, static_cast<double>(features - 1), t.options());
  const auto iterations = static_cast<std::int64_t>(std::ceil(std::log2(static_cast<double>(features))));
  const torch::Tensor order_in = order.index({inside});
  const torch::Tensor sb_in = sb.index({inside});
  const torch::Tensor s_in = s.index({inside});
  const torch::Tensor p_in = p.index({inside});
  const torch::Tensor b_in2 = b.index({inside});
  for (std::int64_t iteration = 0; iteration < iterations; ++iteration) {
    const torch::Tensor middle = torch::floor((lower + upper) / 2);
    const torch::Tensor column = middle.to(torch::kLong).unsqueeze(1);
    const torch::Tensor current = order_in.gather(1, features - 1 - column);
    const torch::Tensor bound = sb_in.gather(1, column) - s_in.gather(1, column) * p_in.gather(1, current);
    const torch::Tensor above = b_in2 - bound.squeeze(1) > 0;
    lower = torch::where(above, middle, lower);
    upper = torch::where(above, upper, middle);
  }
  const torch::Tensor found = lower.to(torch::kLong).unsqueeze(1);

  if (beyond.any().item<bool>()) {
    const torch::Tensor lambda =
        torch::clamp_min((b.index({beyond}) - sb.index({beyond}).select(1, -1)) / (-s.index({beyond}).select(1, -1)), 0)
            .unsqueeze(-1);
    d.index_put_({beyond}, (2 * a.index({beyond}) - 1) * lambda);
  }
  const torch::Tensor lambda =
      torch::clamp_min((b_in2 - sb_in.gather(1, found).squeeze(1)) / (-s_in.gather(1, found).squeeze(1)), 0)
          .unsqueeze(-1);
  const torch::Tensor d_in = d.index({inside});
  const torch::Tensor a_in = a.index({inside});
  d.index_put_({inside}, torch::min(lambda, d_in) * a_in + torch::max(-lambda, d_in) * (1 - a_in));
  return d * nonzero;
}

torch::Tensor fab_projection_l2(const torch::Tensor& points, const torch::Tensor& w_in, const torch::Tensor& b_in) {
  const torch::Tensor& t = points;
  torch::Tensor w = w_in.clone();
  torch::Tensor c = (w * t).sum(1) - b_in;
  const torch::Tensor sign = (c >= 0).to(torch::kLong) * 2 - 1;
  w.mul_(sign.unsqueeze(1));
  c.mul_(sign);

  torch::Tensor r = torch::max(t / w, (t - 1) / w).clamp(-1e12, 1e12);
  r.masked_fill_(w.abs() < 1e-8, 1e12);
  r.masked_fill_(r == -1e12, 1e12);  // the reference's r[r == -1e12] *= -1
  auto [rs, order] = torch::sort(r, 1);
  torch::Tensor rs2 = torch::constant_pad_nd(rs.slice(1, 1), {0, 1});
  rs.masked_fill_(rs == 1e12, 0);
  rs2.masked_fill_(rs2 == 1e12, 0);

  const torch::Tensor w3s = w.pow(2).gather(1, order);
  const torch::Tensor w5 = w3s.sum(1, true);
  const torch::Tensor ws = w5 - torch::cumsum(w3s, 1);
  torch::Tensor d = -(r * w);
  d.mul_((w.abs() > 1e-8).to(t.scalar_type()));
  const torch::Tensor s =
      torch::cat({-w5 * rs.slice(1, 0, 1), torch::cumsum((-rs2 + rs) * ws, 1) - w5 * rs.slice(1, 0, 1)}, 1);

  const torch::Tensor c4 = s.select(1, 0) + c < 0;
  const torch::Tensor c3 = (d * w).sum(1) + c > 0;
  const torch::Tensor c2 = torch::logical_not(torch::logical_or(c4, c3));

  const std::int64_t count = c2.sum().item<std::int64_t>();
  torch::Tensor lower = torch::zeros({count}, t.options());
  torch::Tensor upper = torch::full({count}, static_cast<double>(w.size(1) - 1), t.options());
  const auto iterations = static_cast<std::int64_t>(std::ceil(std::log2(static_cast<double>(w.size(1)))));
  const torch::Tensor s_in = s.index({c2});
  const torch::Tensor c_in = c.index({c2});
  for (std::int64_t iteration = 0; iteration < iterations; ++iteration) {
    const torch::Tensor middle = torch::floor((lower + upper) / 2);
    const torch::Tensor above = s_in.gather(1, middle.to(torch::kLong).unsqueeze(1)).squeeze(1) + c_in > 0;
    lower = torch::where(above, middle, lower);
    upper = torch::where(above, upper, middle);
  }
  const torch::Tensor found = lower.to(torch::kLong).unsqueeze(1);

  if (c4.any().item<bool>()) {
    const torch::Tensor alpha = c.index({c4}) / w5.index({c4}).squeeze(-1);
    d.index_put_({c4}, -alpha.unsqueeze(-1) * w.index({c4}));
  }
  if (count > 0) {
    const torch::Tensor ws_in = ws.index({c2}).gather(1, found).squeeze(1);
    torch::Tensor alpha =
        (s_in.gather(1, found).squeeze(1) + c_in) / ws_in + rs.index({c2}).gather(1, found).squeeze(1);
    alpha.masked_fill_(ws_in == 0, 0);
    const torch::Tensor c5 = (alpha.unsqueeze(-1) > r.index({c2})).to(t.scalar_type());
    d.index_put_({c2}, d.index({c2}) * c5 - alpha.unsqueeze(-1) * w.index({c2}) * (1 - c5));
  }
  return d * (w.abs() > 1e-8).to(t.scalar_type());
}

Fab::Fab(FabOptions options) : options_(options) {
  TORCH_CHECK(options_.eps() >= 0, "FAB eps must be >= 0 (got ", options_.eps(), ")");
  TORCH_CHECK(options_.steps() >= 1, "FAB steps must be >= 1 (got ", options_.steps(), ")");
  TORCH_CHECK(options_.restarts() >= 1, "FAB restarts must be >= 1 (got ", options_.restarts(), ")");
  TORCH_CHECK(options_.target_classes() >= 1, "FAB target_classes must be >= 1 (got ", options_.target_classes(), ")");
}

torch::Tensor Fab::single_run(Classifier& model, const torch::Tensor& x, const torch::Tensor& y,
                              std::int64_t target_rank, bool random_start, at::Generator& generator) {
  torch::NoGradGuard no_grad;
  const std::int64_t dims = x.dim();
  const torch::Tensor logits = model.forward(x);
  const torch::Tensor correct = logits.argmax(1).eq(y);
  if (!correct.any().item<bool>()) return x;
  const torch::Tensor index = correct.nonzero().view(-1);
  TORCH_CHECK(target_rank <= logits.size(1), "FAB target_classes = ", options_.target_classes(), " needs at least ",
              target_rank, " classes (the model has ", logits.size(1), ")");
  const torch::Tensor targets =
      target_rank == 0 ? torch::Tensor()
                       : std::get<1>(logits.sort(-1)).select(1, logits.size(1) - target_rank).index_select(0, index);

  const torch::Tensor original = x.index_select(0, index);
  const torch::Tensor labels = y.index_select(0, index);
  const std::int64_t n = original.size(0);
  torch::Tensor best = original.clone();
  torch::Tensor best_norm = 1e10 * torch::ones({n}, x.options());
  torch::Tensor current = original.clone();
  const torch::Tensor original_flat = original.reshape({n, -1});
  const double eps = options_.eps();

  if (random_start) {
    const auto cpu = torch::TensorOptions().dtype(x.scalar_type());
    const bool linf = options_.norm() == Norm::linf;
    const torch::Tensor t =
        (linf ? 2 * torch::rand(current.sizes(), generator, cpu) - 1 : torch::randn(current.sizes(), generator, cpu))
            .to(x.device());
    const torch::Tensor radius = per_image_view(torch::min(best_norm, eps * torch::ones({n}, x.options())), dims);
    const torch::Tensor length =
        linf ? std::get<0>(t.reshape({n, -1}).abs().max(1)) : t.pow(2).reshape({n, -1}).sum(-1).sqrt();
    current = (original + radius * t / per_image_view(length, dims) * .5).clamp(0.0, 1.0);
  }

  for (std::int64_t step = 0; step < options_.steps(); ++step) {
    const auto [w, b] = nearest_hyperplane(model, current, labels, targets, options_.norm());

    const auto project_onto = options_.norm() == Norm::linf ? fab_projection_linf : fab_projection_l2;
    const torch::Tensor d3 = project_onto(torch::cat({current.reshape({n, -1}), original_flat}, 0),
                                          torch::cat({w, w}, 0), torch::cat({b, b}, 0));
    const torch::Tensor d1 = d3.slice(0, 0, n).reshape(current.sizes());
    const torch::Tensor d2 = d3.slice(0, n).reshape(current.sizes());
    torch::Tensor a0 = per_image_view(
        options_.norm() == Norm::linf ? std::get<0>(d3.abs().max(1, true)) : d3.pow(2).sum(1, true).sqrt(), dims);
    a0 = torch::max(a0, 1e-8 * torch::ones(a0.sizes(), a0.options()));
    const torch::Tensor a1 = a0.slice(0, 0, n);
    const torch::Tensor a2 = a0.slice(0, n);
    const torch::Tensor alpha = torch::min(torch::max(a1 / (a1 + a2), torch::zeros(a1.sizes(), a1.options())),
                                           options_.alpha_max() * torch::ones(a1.sizes(), a1.options()));
    current =
        ((current + options_.eta() * d1) * (1 - alpha) + (original + d2 * options_.eta()) * alpha).clamp(0.0, 1.0);

    const torch::Tensor is_adversarial = model.forward(current).argmax(1).ne(labels);
    if (is_adversarial.any().item<bool>()) {
      const torch::Tensor distance = per_image_norm(options_.norm(), current - original);
      const torch::Tensor smaller = torch::logical_and(is_adversarial, distance < best_norm);
      best = torch::where(per_image_view(smaller, dims), current, best);
      best_norm = torch::where(smaller, distance, best_norm);
      current = torch::where(per_image_view(is_adversarial, dims), original + (current - original) * options_.beta(),
                             current);
    }
  }

  const torch::Tensor success = best_norm < 1e10;
  torch::Tensor result = x.clone();
  result.index_copy_(0, index.masked_select(success), best.index({success}));
  return result;
}

torch::Tensor Fab::perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) {
  FrozenParameters frozen(model);
  torch::NoGradGuard no_grad;
  const torch::Tensor clean = x.detach().to(torch::kFloat);
  torch::Tensor adversarial = clean.clone();
  torch::Tensor robust = model.forward(clean).argmax(1).eq(y);
  at::Generator generator = seeded_generator(options_.seed());
  if (!options_.targeted()) {
    restarts(model, clean, y, 0, robust, adversarial, generator);
    return adversarial;
  }
  for (std::int64_t target = 0; target < options_.target_classes(); ++target) {
    restarts(model, clean, y, target + 2, robust, adversarial, generator);
  }
  return adversarial;
}

void Fab::restarts(Classifier& model, const torch::Tensor& clean, const torch::Tensor& y, std::int64_t target_rank,
                   torch::Tensor& robust, torch::Tensor& adversarial, at::Generator& generator) {
  for (std::int64_t restart = 0; restart < options_.restarts(); ++restart) {
    const torch::Tensor index = robust.nonzero().view(-1);
    if (index.numel() == 0) return;
    const torch::Tensor x_run = clean.index_select(0, index);
    const torch::Tensor y_run = y.index_select(0, index);
    const torch::Tensor candidate = single_run(model, x_run, y_run, target_rank, restart > 0, generator);
    const torch::Tensor still_correct =
        torch::logical_or(model.forward(candidate).argmax(1).eq(y_run),
                          per_image_norm(options_.norm(), x_run - candidate) > options_.eps());
    record_fooled(robust, adversarial, index, candidate, still_correct.logical_not());
  }
}

std::string Fab::describe() const {
  const std::string kind =
      options_.targeted() ? fmt::format("FAB-T ({} targets)", options_.target_classes()) : std::string("FAB");
  return fmt::format("{} {} eps={:.5g} steps={} restarts={} alpha_max={} eta={} beta={}", kind,
                     to_string(options_.norm()), options_.eps(), options_.steps(), options_.restarts(),
                     options_.alpha_max(), options_.eta(), options_.beta());
}

}  // namespace armor
