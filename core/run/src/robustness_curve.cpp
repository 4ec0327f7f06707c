#include "armor/run/robustness_curve.h"

#include <string>

#include <fmt/core.h>
#include <torch/torch.h>

#include "armor/attack/input_gradient.h"
#include "armor/data/batch_loader.h"
#include "armor/error.h"
#include "armor/nn/classifier.h"
#include "armor/util/progress.h"

namespace armor {
namespace {

// Whether the model classifies each test image correctly: [N] bool on the CPU.
torch::Tensor correct_clean(Classifier& model, const LabelledImages& test, std::int64_t batch_size,
                            torch::Device device) {
  BatchLoader loader(test, batch_size, device);
  std::vector<torch::Tensor> correct;
  loader.start_epoch(0);
  while (auto batch = loader.next()) correct.push_back(predict_labels(model, batch->x).eq(batch->y).cpu());
  return correct.empty() ? torch::zeros({0}, torch::kBool) : torch::cat(correct);
}

// The images `index` [n] (test order) of `test`.
LabelledImages select(const LabelledImages& test, const torch::Tensor& index) {
  return {test.images.index_select(0, index), test.labels.index_select(0, index)};
}

// Which of `images` the attack fools: [n] bool on the CPU, in their order.
torch::Tensor fooled_by(Attack& attack, Classifier& model, const LabelledImages& images, std::int64_t batch_size,
                        torch::Device device) {
  BatchLoader loader(images, batch_size, device);
  std::vector<torch::Tensor> fooled;
  loader.start_epoch(0);
  while (auto batch = loader.next()) {
    const torch::Tensor adversarial = attack.perturb(model, batch->x, batch->y);
    fooled.push_back(predict_labels(model, adversarial).ne(batch->y).cpu());
  }
  return fooled.empty() ? torch::zeros({0}, torch::kBool) : torch::cat(fooled);
}

}  // namespace

std::vector<double> CurveLadder::rungs() const {
  std::vector<double> eps;
  // Rounded to 12 significant digits, so that 0.2 * 3 / 4 is stored and shown as 0.15.
  for (std::int64_t j = 1; j <= points; ++j)
    eps.push_back(std::stod(fmt::format("{:.12g}", max_eps * static_cast<double>(j) / static_cast<double>(points))));
  return eps;
}

RobustnessCurve ladder_curve(Classifier& model, const LabelledImages& test, torch::Device device,
                             const CurveLadder& ladder) {
  if (ladder.points < 1) throw ConfigError(fmt::format("eval.curve_points must be >= 1 (got {})", ladder.points));
  if (!(ladder.max_eps > 0.0))
    throw ConfigError(fmt::format("eval.curve_max_eps must be > 0 (got {})", ladder.max_eps));
  model.eval();
  const torch::Tensor correct = correct_clean(model, test, ladder.batch_size, device);
  const auto right = correct.accessor<bool, 1>();
  RobustnessCurve curve{ladder.metric, ladder.max_eps, {}};
  for (std::int64_t i = 0; i < correct.size(0); ++i) {
    curve.images.push_back({i, right[i] ? std::nullopt : std::optional<double>(0.0)});
  }
  torch::Tensor active = correct.nonzero().select(1, 0);  // test indices not broken yet
  const std::vector<double> rungs = ladder.rungs();
  Progress progress("eval " + ladder.metric + " curve", static_cast<std::int64_t>(rungs.size()));
  for (std::size_t j = 0; j < rungs.size() && active.numel() > 0; ++j) {
    const std::shared_ptr<Attack> attack = ladder.make_attack(rungs[j]);
    const torch::Tensor fooled = fooled_by(*attack, model, select(test, active), ladder.batch_size, device);
    const torch::Tensor broken = active.masked_select(fooled);
    for (std::int64_t k = 0; k < broken.size(0); ++k) {
      curve.images[static_cast<std::size_t>(broken[k].item<std::int64_t>())].min_eps = rungs[j];
    }
    active = active.masked_select(fooled.logical_not());
    progress.update(
        static_cast<std::int64_t>(j + 1),
        fmt::format("eps {:.4g}: acc {:.3f}", rungs[j],
                    static_cast<double>(active.numel()) / static_cast<double>(std::max<std::int64_t>(1, test.size()))));
  }
  progress.finish(
      fmt::format("acc {:.4f} at eps {:.4g}",
                  static_cast<double>(active.numel()) / static_cast<double>(std::max<std::int64_t>(1, test.size())),
                  ladder.max_eps));
  return curve;
}

}  // namespace armor
