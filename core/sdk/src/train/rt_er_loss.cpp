#include "armor/train/rt_er_loss.h"

#include <torch/torch.h>

#include "armor/error.h"
#include "armor/nn/dual_model.h"

namespace armor {

ExpertSelection expert_selection_from_string(const std::string& text) {
  if (text == "second") return ExpertSelection::second;
  if (text == "top1") return ExpertSelection::top1;
  if (text == "all") return ExpertSelection::all;
  throw ConfigError("expert selection must be second, top1 or all (got '" + text + "')");
}

const char* to_string(ExpertSelection selection) {
  switch (selection) {
    case ExpertSelection::second: return "second";
    case ExpertSelection::top1: return "top1";
    case ExpertSelection::all: return "all";
  }
  return "?";
}

torch::Tensor ExpertPairs::images_of(std::int64_t expert) const { return images.masked_select(experts.eq(expert)); }

ExpertPairs select_expert_pairs(const torch::Tensor& router_probs, ExpertSelection selection) {
  TORCH_CHECK(router_probs.dim() == 2, "select_expert_pairs: router probabilities must be [N,E] (got ",
              router_probs.sizes(), ")");
  const std::int64_t n = router_probs.size(0);
  const std::int64_t experts = router_probs.size(1);
  const auto long_options = torch::TensorOptions().dtype(torch::kInt64).device(router_probs.device());
  torch::Tensor chosen;  // [N*m] expert per (image, slot), image-major
  torch::Tensor images;
  if (selection == ExpertSelection::all) {
    images = torch::arange(n, long_options).repeat_interleave(experts);
    chosen = torch::arange(experts, long_options).repeat({n});
  } else {
    const std::int64_t rank = selection == ExpertSelection::second ? 1 : 0;
    TORCH_CHECK(experts > rank, "select_expert_pairs: selection '", to_string(selection), "' needs at least ", rank + 1,
                " experts (got ", experts, ")");
    // A stable descending sort: equal probabilities rank by expert index.
    const torch::Tensor order =
        std::get<1>(router_probs.detach().sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
    chosen = order.select(1, rank).contiguous();
    images = torch::arange(n, long_options);
  }
  // Group by expert, keeping image order within an expert (a stable sort on the expert).
  const torch::Tensor by_expert = std::get<1>(chosen.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
  return {images.index_select(0, by_expert), chosen.index_select(0, by_expert)};
}

RtErLoss rt_er_loss(const torch::Tensor& moe_adv_logits, const torch::Tensor& labels,
                    const torch::Tensor& clean_pair_logits, const torch::Tensor& adv_pair_logits, double beta) {
  TORCH_CHECK(moe_adv_logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == moe_adv_logits.size(0),
              "rt_er_loss: MoE logits [N,K] and labels [N] disagree (got ", moe_adv_logits.sizes(), " and ",
              labels.sizes(), ")");
  TORCH_CHECK(clean_pair_logits.sizes() == adv_pair_logits.sizes() && clean_pair_logits.dim() == 2,
              "rt_er_loss: clean and adversarial pair logits must both be [P,K] (got ", clean_pair_logits.sizes(),
              " and ", adv_pair_logits.sizes(), ")");
  TORCH_CHECK(beta >= 0.0, "rt_er_loss: beta must be >= 0 (got ", beta, ")");
  RtErLoss loss;
  loss.moe_ce = torch::nn::functional::cross_entropy(moe_adv_logits, labels);
  const auto batch = static_cast<double>(std::max<std::int64_t>(1, moe_adv_logits.size(0)));
  const torch::Tensor log_p = torch::log_softmax(clean_pair_logits, 1);
  const torch::Tensor log_q = torch::log_softmax(adv_pair_logits, 1);
  loss.expert_kl = (log_p.exp() * (log_p - log_q)).sum() / batch;
  loss.total = loss.moe_ce + loss.expert_kl * beta;
  return loss;
}

RtErLoss rt_er_loss(const torch::Tensor& moe_adv_logits, const torch::Tensor& labels,
                    const torch::Tensor& expert_clean_logits, const torch::Tensor& expert_adv_logits,
                    const torch::Tensor& router_probs, double beta, ExpertSelection selection) {
  TORCH_CHECK(expert_clean_logits.dim() == 3 && expert_clean_logits.sizes() == expert_adv_logits.sizes() &&
                  router_probs.dim() == 2 && expert_clean_logits.size(0) == router_probs.size(1) &&
                  expert_clean_logits.size(1) == router_probs.size(0),
              "rt_er_loss: expert logits must be [E,N,K] and router probabilities [N,E] (got ",
              expert_clean_logits.sizes(), ", ", expert_adv_logits.sizes(), " and ", router_probs.sizes(), ")");
  const ExpertPairs pairs = select_expert_pairs(router_probs, selection);
  // Row e*N + n of the flattened [E*N,K] logits is expert e on image n.
  const torch::Tensor rows = pairs.experts * router_probs.size(0) + pairs.images;
  const std::int64_t classes = expert_clean_logits.size(2);
  return rt_er_loss(moe_adv_logits, labels, expert_clean_logits.reshape({-1, classes}).index_select(0, rows),
                    expert_adv_logits.reshape({-1, classes}).index_select(0, rows), beta);
}

torch::Tensor jtdmoe_standard_loss(const torch::Tensor& standard_logits, const torch::Tensor& robust_logits,
                                   const torch::Tensor& labels, double alpha) {
  return torch::nn::functional::cross_entropy(dual_logits(standard_logits, robust_logits.detach(), alpha), labels);
}

}  // namespace armor
