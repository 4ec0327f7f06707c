#pragma once
// Robustness curves (README "Robustness curves"): per test image, the smallest eps of an eps ladder
// at which one evaluation attack broke it, so that accuracy against eps is one query of table
// robustness_curves and one chart, without attacking again per eps.
//
// The ladder is eps_j = max_eps * j / points (j = 1..points). Every image correct clean is attacked
// at eps_1; those it survives at eps_2, and so on: an image's min_eps is the first rung that broke
// it (0 when misclassified clean, none when it survived every rung). The accuracy at eps_j, the
// share of images with no min_eps <= eps_j, is therefore the accuracy under the attack run at every
// rung up to eps_j (a worst case over rungs, at least as strong as the attack at eps_j alone).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "armor/attack/attack.h"
#include "armor/data/dataset.h"
#include "armor/store/store_records.h"

namespace armor {

class Classifier;

struct CurveLadder {
  std::string metric;  // the [eval.attacks.<metric>] attack; the curve is stored under it
  double max_eps = 0.0;
  std::int64_t points = 8;
  std::int64_t batch_size = 256;
  std::function<std::shared_ptr<Attack>(double eps)> make_attack;  // the same attack at another eps

  std::vector<double> rungs() const;  // eps_1 .. eps_points
};

// The model in eval mode; images in test order. ConfigError when points < 1 or max_eps <= 0.
RobustnessCurve ladder_curve(Classifier& model, const LabelledImages& test, torch::Device device,
                             const CurveLadder& ladder);

}  // namespace armor
