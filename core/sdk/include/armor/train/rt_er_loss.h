#pragma once
// The losses of paper 1 (ALGORITHMS.md §2) as pure functions of logits, for the rt_er and jtdmoe
// trainers: they craft the attacks and run the models, these functions only combine the results.
//
// RT-ER for a batch of N images, E experts f_e of an output-level MoE F:
//   L = CE(F(x'), y) + (beta / N) * sum_e sum_{n in S_e} KL( softmax f_e(x_n) || softmax f_e(x''_n) )
// x' = an attack on the whole MoE, x''_n = an attack on expert e alone (CE on the true label), S_e
// the images whose selected expert on the clean input is e:
//   second: the second-ranked expert of the router (paper 1: the one that takes over when an attack
//           flips the route); top1: the chosen expert; all: every expert on every image.
// KL(P || Q) = sum_k P_k (log P_k - log Q_k); both sides keep their gradient (like TRADES, the
// clean branch is not detached). beta = 0 leaves CE(F(x'), y): the PGD-AT loss.
//
// JTDMoE (alternating per batch): the robust step is RT-ER with selection `all` on F_R (F_S
// frozen); the standard step is jtdmoe_standard_loss on clean images (F_R frozen).

#include <cstdint>
#include <string>

#include <torch/types.h>

namespace armor {

enum class ExpertSelection { second, top1, all };

// "second" | "top1" | "all"; ConfigError naming the text otherwise.
ExpertSelection expert_selection_from_string(const std::string& text);
const char* to_string(ExpertSelection selection);

// The (image, expert) pairs of the expert term, grouped by expert (ascending), images ascending
// within an expert: images [P], experts [P] (int64). P = N for second and top1, N*E for all.
struct ExpertPairs {
  torch::Tensor images;
  torch::Tensor experts;

  std::int64_t size() const { return images.defined() ? images.size(0) : 0; }
  // The images of expert e, [P_e]: the sub-batch to attack expert e alone on.
  torch::Tensor images_of(std::int64_t expert) const;
};

// router_probs [N,E] (the router's probabilities on the clean input) -> the pairs of `selection`.
// second needs E >= 2. Ties between equal probabilities go to the lower expert index.
ExpertPairs select_expert_pairs(const torch::Tensor& router_probs, ExpertSelection selection);

// Scalars: total = moe_ce + beta * expert_kl, expert_kl = (1/N) * the sum of the pairs' KL.
struct RtErLoss {
  torch::Tensor total;
  torch::Tensor moe_ce;
  torch::Tensor expert_kl;
};

// Pair form (what a trainer computes: only the selected experts, each on its images):
//   moe_adv_logits [N,K] = F(x'), labels [N] int64,
//   clean_pair_logits [P,K] = f_{e_p}(x_{n_p}), adv_pair_logits [P,K] = f_{e_p}(x''_{n_p}).
RtErLoss rt_er_loss(const torch::Tensor& moe_adv_logits, const torch::Tensor& labels,
                    const torch::Tensor& clean_pair_logits, const torch::Tensor& adv_pair_logits, double beta);

// Dense form: expert_clean_logits [E,N,K] = f_e(x), expert_adv_logits [E,N,K] = f_e(x''_e) (attack
// on expert e alone), router_probs [N,E] on the clean input. Only the selected entries are read.
RtErLoss rt_er_loss(const torch::Tensor& moe_adv_logits, const torch::Tensor& labels,
                    const torch::Tensor& expert_clean_logits, const torch::Tensor& expert_adv_logits,
                    const torch::Tensor& router_probs, double beta, ExpertSelection selection);

// JTDMoE's standard step: CE((1 - alpha) * F_S(x) + alpha * F_R(x), y) on clean images, F_R's
// logits detached (F_R is frozen in this step). standard_logits, robust_logits [N,K], labels [N].
torch::Tensor jtdmoe_standard_loss(const torch::Tensor& standard_logits, const torch::Tensor& robust_logits,
                                   const torch::Tensor& labels, double alpha);

}  // namespace armor
