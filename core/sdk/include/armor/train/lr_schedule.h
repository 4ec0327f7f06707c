#pragma once
// LrSchedule: the learning rate of every optimiser step t = 0 .. T-1 (T = epochs x batches per
// epoch), from the trainer's parameters (see lr_schedule_params()):
//   constant  lr
//   cosine    0.5 lr (1 + cos(pi u / U))          u, U: step and steps counted after the warm-up
//   poly      lr (1 - u / U)^power
//   step      lr gamma^(number of milestones reached); milestones in epochs ("100,150")
//   cyclic    triangular, per step. cycle_steps = 0 (Wong et al. 2020): one cycle, 0 -> lr linearly
//             until cycle_peak x T, then -> 0. cycle_steps = s > 0 (PyTorch's CyclicLR, paper 1):
//             min_lr -> lr over s steps, back over s steps, repeated.
// A warm-up of warmup_epochs (all but cyclic) rises linearly to the schedule's value: lr (t+1) / W.

#include <cstdint>
#include <string>
#include <vector>

#include "armor/params/param_schema.h"
#include "armor/params/params.h"

namespace armor {

// schedule, warmup_epochs, power, milestones, gamma, cycle_peak (the trainer adds lr itself).
ParamSchema lr_schedule_params();

class LrSchedule {
 public:
  // params: a trainer section with lr and lr_schedule_params(); ConfigError (through
  // params.fail) on a malformed milestone list.
  LrSchedule(const Params& params, std::int64_t epochs, std::int64_t steps_per_epoch);

  double at(std::int64_t step) const;
  std::int64_t total_steps() const noexcept { return total_steps_; }

 private:
  double after_warmup(std::int64_t step) const;

  std::string kind_;
  double lr_;
  double power_;
  double gamma_;
  double cycle_peak_;
  double min_lr_;
  std::int64_t cycle_steps_;
  std::int64_t steps_per_epoch_;
  std::int64_t total_steps_;
  std::int64_t warmup_steps_;
  std::vector<std::int64_t> milestone_steps_;
};

}  // namespace armor
