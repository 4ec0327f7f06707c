#include "armor/train/rt_er_step.h"

#include <torch/torch.h>

#include "armor/nn/expert_ensemble.h"

namespace armor {

RtErStep rt_er_step(ExpertEnsemble& ensemble, const CraftAttack& craft, const torch::Tensor& x, const torch::Tensor& y,
                    double beta, ExpertSelection selection) {
  torch::Tensor probs;
  {
    torch::NoGradGuard no_grad;
    probs = ensemble.route(x).probs;
  }
  const ExpertPairs pairs = select_expert_pairs(probs, selection);
  // Pairs come grouped by expert, ascending: concatenating per expert keeps their order.
  std::vector<torch::Tensor> clean_pairs, adversarial_pairs;
  if (beta != 0.0) {
    for (std::int64_t e = 0; e < ensemble.num_experts(); ++e) {
      const torch::Tensor images = pairs.images_of(e);
      if (images.numel() == 0) continue;
      Classifier& expert = ensemble.expert(e);
      const torch::Tensor xe = x.index_select(0, images);
      const torch::Tensor adversarial = craft(expert, xe, y.index_select(0, images));
      clean_pairs.push_back(expert.forward(xe));
      adversarial_pairs.push_back(expert.forward(adversarial));
    }
  }
  const torch::Tensor moe_adversarial = craft(ensemble, x, y);
  RtErStep step;
  step.moe_adv_logits = ensemble.forward(moe_adversarial);  // last: the balancing term reads this routing
  if (clean_pairs.empty()) {
    const torch::Tensor empty = torch::zeros({0, step.moe_adv_logits.size(1)}, step.moe_adv_logits.options());
    step.loss = rt_er_loss(step.moe_adv_logits, y, empty, empty, beta);
  } else {
    step.loss = rt_er_loss(step.moe_adv_logits, y, torch::cat(clean_pairs), torch::cat(adversarial_pairs), beta);
  }
  return step;
}

}  // namespace armor
