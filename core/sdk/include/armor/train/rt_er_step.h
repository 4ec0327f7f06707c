#pragma once
// One RT-ER step on an output-level MoE (ALGORITHMS.md §2): the attacks and the forward passes
// whose results rt_er_loss() combines.
//   x'  = craft(whole MoE, x, y)                      -> F(x') [N,K]
//   S_e = images whose selected expert (second-ranked by default) on the clean x is e
//   x'' = craft(expert e alone, x[S_e], y[S_e])       one attack call per expert, on its sub-batch
//   loss = CE(F(x'), y) + beta/N * sum_e sum_{n in S_e} KL(f_e(x_n) || f_e(x''_n))
// The router's probabilities come from a no-grad pass on the clean batch in the model's current mode.

#include <functional>

#include <torch/types.h>

#include "armor/train/rt_er_loss.h"

namespace armor {

class Classifier;
class ExpertEnsemble;

// Runs an attack on `target` in the trainer's crafting mode: x [n,C,H,W], y [n] -> x_adv.
using CraftAttack = std::function<torch::Tensor(Classifier& target, const torch::Tensor& x, const torch::Tensor& y)>;

struct RtErStep {
  RtErLoss loss;
  torch::Tensor moe_adv_logits;  // F(x') [N,K], for the reported accuracy
};

RtErStep rt_er_step(ExpertEnsemble& ensemble, const CraftAttack& craft, const torch::Tensor& x, const torch::Tensor& y,
                    double beta, ExpertSelection selection);

}  // namespace armor
