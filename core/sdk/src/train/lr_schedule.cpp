#include "armor/train/lr_schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

namespace armor {

namespace {

std::vector<std::int64_t> parse_milestones(const Params& params) {
  std::vector<std::int64_t> epochs;
  std::stringstream list(params.string("milestones"));
  std::string item;
  while (std::getline(list, item, ',')) {
    // An epoch: a whole number >= 0, blanks around it allowed.
    const std::size_t first = item.find_first_not_of(" \t");
    const std::size_t last = item.find_last_not_of(" \t");
    std::int64_t epoch = -1;
    const char* begin = item.data() + (first == std::string::npos ? item.size() : first);
    const char* end = item.data() + (last == std::string::npos ? item.size() : last + 1);
    const auto [stop, error] = std::from_chars(begin, end, epoch);
    if (begin == end || error != std::errc() || stop != end || epoch < 0) {
      params.fail("milestones", "must be a comma-separated list of epochs, like \"100,150\" (bad item '" + item + "')");
    }
    epochs.push_back(epoch);
  }
  std::sort(epochs.begin(), epochs.end());
  return epochs;
}

}  // namespace

ParamSchema lr_schedule_params() {
  return ParamSchema()
      .string("schedule", "cosine", "Learning-rate schedule, per step",
              {"constant", "cosine", "poly", "step", "cyclic"})
      .real("warmup_epochs", 0, "Linear warm-up before the schedule (not with cyclic); fractions allowed", 0)
      .real("power", 0.9, "poly: exponent of (1 - progress)", 0)
      .string("milestones", "", "step: epochs at which the rate is multiplied by gamma, e.g. \"100,150\"")
      .real("gamma", 0.1, "step: factor at each milestone", 0)
      .real("cycle_peak", 0.4, "cyclic: share of all steps at which the rate peaks (one cycle over the run)", 0, 1)
      .integer("cycle_steps", 0, "cyclic: steps from min_lr up to lr, repeating triangles (0 = one cycle over the run)",
               0)
      .real("min_lr", 0, "cyclic: the low end of the repeating triangles", 0)
      .check([](const Params& params) {
        if (params.string("schedule") == "cyclic" && params.real("warmup_epochs") > 0) {
          params.fail("warmup_epochs", "has no meaning with schedule = \"cyclic\", whose ramp is its warm-up");
        }
        if (params.string("schedule") == "step" && params.string("milestones").empty()) {
          params.fail("milestones", "must list at least one epoch for schedule = \"step\"");
        }
        parse_milestones(params);
      });
}

LrSchedule::LrSchedule(const Params& params, std::int64_t epochs, std::int64_t steps_per_epoch)
    : kind_(params.string("schedule")),
      lr_(params.real("lr")),
      power_(params.real("power")),
      gamma_(params.real("gamma")),
      cycle_peak_(params.real("cycle_peak")),
      min_lr_(params.real("min_lr")),
      cycle_steps_(params.integer("cycle_steps")),
      steps_per_epoch_(std::max<std::int64_t>(1, steps_per_epoch)),
      total_steps_(std::max<std::int64_t>(1, epochs * steps_per_epoch_)),
      warmup_steps_(std::min(total_steps_,
                             static_cast<std::int64_t>(
                                 std::llround(params.real("warmup_epochs") * static_cast<double>(steps_per_epoch_))))) {
  if (kind_ == "step") {
    for (const std::int64_t epoch : parse_milestones(params)) milestone_steps_.push_back(epoch * steps_per_epoch_);
  }
}

double LrSchedule::at(std::int64_t step) const {
  step = std::clamp<std::int64_t>(step, 0, total_steps_ - 1);
  if (step < warmup_steps_) {
    return after_warmup(warmup_steps_) * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
  }
  return after_warmup(step);
}

double LrSchedule::after_warmup(std::int64_t step) const {
  const double u = static_cast<double>(step - warmup_steps_);
  const double span = static_cast<double>(std::max<std::int64_t>(1, total_steps_ - warmup_steps_));
  if (kind_ == "cosine") return 0.5 * lr_ * (1.0 + std::cos(M_PI * u / span));
  if (kind_ == "poly") return lr_ * std::pow(std::max(0.0, 1.0 - u / span), power_);
  if (kind_ == "step") {
    const auto reached =
        std::upper_bound(milestone_steps_.begin(), milestone_steps_.end(), step) - milestone_steps_.begin();
    return lr_ * std::pow(gamma_, static_cast<double>(reached));
  }
  if (kind_ == "cyclic" && cycle_steps_ > 0) {  // PyTorch's CyclicLR, mode "triangular"
    const double position = static_cast<double>(step % (2 * cycle_steps_)) / static_cast<double>(cycle_steps_);
    return min_lr_ + (lr_ - min_lr_) * (position <= 1.0 ? position : 2.0 - position);
  }
  if (kind_ == "cyclic") {
    const double t = static_cast<double>(step);
    const double peak = cycle_peak_ * static_cast<double>(total_steps_);
    if (t <= peak) return peak > 0 ? lr_ * t / peak : lr_;
    return lr_ * std::max(0.0, (static_cast<double>(total_steps_) - t) / (static_cast<double>(total_steps_) - peak));
  }
  return lr_;
}

}  // namespace armor
