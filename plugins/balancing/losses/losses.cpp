// balancing/*: the balancing losses of paper 2 and of the wider MoE literature (ALGORITHMS.md §1).
// Each reads one layer's GateOutput: probs p [N,E] (p̄ its batch mean), indices, logits -> scalar.
// H(q) = -sum q log q.
//   switch          E * sum_i f_i * p̄_i - 1, f_i = fraction of images whose argmax is i (no gradient)
//   entropy         mean_n H(p_n) - H(p̄): sharp routing per image, balanced over the batch
//   column_entropy  -H(p̄)
//   variance        switch - (1/E) * sum_i std_n(p_n,i) + 1   (std with Bessel's correction)
//   importance      CV²(importance) + load_weight * CV²(load) (Shazeer et al. 2017): importance_e =
//                   sum_n G_n,e with G the sparse gate values, the combine weights (zero off the
//                   chosen k: noisy_topk's softmax over the k chosen logits; topk's renormalised
//                   probabilities, or for k = 1 weight 1 with the straight-through gradient of the
//                   chosen probability); load_e = sum_n P(e stays in the top k under a fresh noise sample)
//                   from a noisy gate's clean_logits and noise_std, else the count of images routed
//                   to e (no gradient). CV²(v) = var(v) / (mean(v)² + 1e-10), var with Bessel's correction.
//   z_loss          mean_n (logsumexp_e logits_n,e)²  (ST-MoE router z-loss)
//   expert_variance ReLU(1 - sqrt(Var_e(m_e) + 1e-4)), m_e = mean output of expert e over the images
//                   routed to it (0 for an expert without images; MoeLayer's expert_means), Var with
//                   Bessel's correction: paper 2's variance_alpha term (its weight is variance_alpha;
//                   the released code means to add it but crashes when it is on). It rewards experts
//                   whose outputs differ; the gradient reaches the experts, not the router. 0 for E < 2.

#include <torch/torch.h>

#include "armor/nn/balancing_loss.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/registry.h"

namespace {

torch::Tensor entropy(const torch::Tensor& q, std::int64_t dim) { return -(q * q.clamp_min(1e-12).log()).sum(dim); }

torch::Tensor switch_loss(const torch::Tensor& probs) {
  const std::int64_t experts = probs.size(1);
  const torch::Tensor fraction = torch::one_hot(probs.detach().argmax(1), experts).to(probs.dtype()).mean(0);
  return static_cast<double>(experts) * (fraction * probs.mean(0)).sum() - 1.0;
}

torch::Tensor cv_squared(const torch::Tensor& v) {
  if (v.numel() <= 1) return torch::zeros({}, v.options());
  return v.var() / (v.mean().pow(2) + 1e-10);
}

// Shazeer's smooth load: P(logit_e + noise stays above the k-th best of the others), summed over images.
torch::Tensor smooth_load(const armor::GateOutput& routing, std::int64_t k) {
  const torch::Tensor& noisy = routing.logits;
  const torch::Tensor top = std::get<0>(noisy.topk(k + 1, 1));            // [N,k+1]
  const torch::Tensor threshold_in = top.select(1, k).unsqueeze(1);       // for experts in the top k
  const torch::Tensor threshold_out = top.select(1, k - 1).unsqueeze(1);  // for the others
  const torch::Tensor in_top = noisy.gt(threshold_in);
  const torch::Tensor threshold = torch::where(in_top, threshold_in, threshold_out);
  const torch::Tensor z = (routing.clean_logits - threshold) / routing.noise_std;
  const torch::Tensor probability = 0.5 * (1.0 + torch::erf(z / std::sqrt(2.0)));
  return probability.sum(0);
}

class FunctionLoss : public armor::BalancingLoss {
 public:
  explicit FunctionLoss(std::function<torch::Tensor(const armor::GateOutput&)> f) : f_(std::move(f)) {}
  torch::Tensor forward(const armor::GateOutput& routing) override { return f_(routing); }

 private:
  std::function<torch::Tensor(const armor::GateOutput&)> f_;
};

template <typename F>
armor::BalancingFactory simple(F f) {
  return [f](const armor::Params&) { return std::make_shared<FunctionLoss>(f); };
}

void register_losses(armor::Registry& registry) {
  registry.add_balancing("switch", "Switch load balancing: E * sum f_i * mean p_i - 1", armor::ParamSchema(),
                         simple([](const armor::GateOutput& r) { return switch_loss(r.probs); }));
  registry.add_balancing(
      "entropy", "mean_n H(p_n) - H(mean p): sharp per image, balanced marginal (topk trains noise-free)",
      armor::ParamSchema(),
      simple([](const armor::GateOutput& r) { return entropy(r.probs, 1).mean() - entropy(r.probs.mean(0), 0); }));
  registry.add_balancing("column_entropy", "-H(mean p): balanced marginal", armor::ParamSchema(),
                         simple([](const armor::GateOutput& r) { return -entropy(r.probs.mean(0), 0); }));
  registry.add_balancing(
      "variance", "switch - mean_i std_n(p_n,i) + 1", armor::ParamSchema(),
      simple([](const armor::GateOutput& r) { return switch_loss(r.probs) - r.probs.std(0).mean() + 1.0; }));
  registry.add_balancing(
      "importance", "Shazeer et al.: CV² of importance (sum of the sparse gate values) + load_weight * CV² of load",
      armor::ParamSchema().real("load_weight", 1.0, "Weight of the load term relative to the importance term", 0),
      [](const armor::Params& params) {
        const double load_weight = params.real("load_weight");
        return std::make_shared<FunctionLoss>([load_weight](const armor::GateOutput& r) {
          TORCH_CHECK(r.weights.defined(), "balancing/importance: the routing has no combine weights");
          const torch::Tensor importance = cv_squared(r.weights.sum(0));
          if (load_weight == 0.0) return importance;
          const std::int64_t experts = r.probs.size(1);
          const std::int64_t k = r.indices.size(1);
          const torch::Tensor load = r.noise_std.defined() && r.clean_logits.defined() && k < experts
                                         ? smooth_load(r, k)
                                         : torch::bincount(r.indices.reshape({-1}), {}, experts).to(r.probs.dtype());
          return importance + load_weight * cv_squared(load);
        });
      });
  registry.add_balancing("z_loss", "Router z-loss (ST-MoE): mean (logsumexp logits)²", armor::ParamSchema(),
                         simple([](const armor::GateOutput& r) { return r.logits.logsumexp(1).pow(2).mean(); }));
  registry.add_balancing(
      "expert_variance",
      "Paper 2's variance_alpha term: ReLU(1 - sqrt(Var_e(mean output of expert e) + 1e-4)); off unless added, "
      "e.g. [balancing.also.expert_variance] weight = variance_alpha",
      armor::ParamSchema(), simple([](const armor::GateOutput& r) {
        TORCH_CHECK(r.expert_means.defined(),
                    "balancing/expert_variance: the routing has no expert means (only a MoeLayer's records have them)");
        if (r.expert_means.numel() < 2) return torch::zeros({}, r.expert_means.options());
        return torch::relu(1.0 - torch::sqrt(r.expert_means.var() + 1e-4));
      }));
}

}  // namespace

ARMOR_PLUGIN("balancing_losses", "1.0", register_losses)
