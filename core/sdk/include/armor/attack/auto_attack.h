#pragma once
// AutoAttack (Croce & Hein 2020): an ensemble run in order, each member only on the images still
// classified correctly; an image is robust only if every member failed. "standard" (L-infinity) is
// APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000 queries), each 100 iterations and
// one restart; any other list of members can be given by name.
//
// perturb: x [N,C,H,W] in [0,1], y [N] -> x_adv [N,C,H,W]: per image the point of the first member
// that fooled it, else the clean image.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "armor/attack/attack.h"

namespace armor {

struct AutoAttackOptions {
  double eps = 8.0 / 255.0;
  std::vector<std::string> members = {"apgd-ce", "apgd-t", "fab-t", "square"};
  std::uint64_t seed = 0;
  std::int64_t apgd_steps = 100;
  std::int64_t fab_steps = 100;
  std::int64_t target_classes = 9;
  std::int64_t square_queries = 5000;
};

class AutoAttack : public Attack {
 public:
  // ConfigError naming `attacks` when the members are empty or one is not a known_members() name.
  explicit AutoAttack(AutoAttackOptions options);
  torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override;
  std::string describe() const override;

  // Images fooled by each member in every perturb call so far (in member order), and images seen.
  const std::vector<std::pair<std::string, std::int64_t>>& fooled_by_member() const noexcept { return fooled_; }
  std::int64_t images_seen() const noexcept { return seen_; }

  // The member names AutoAttack knows: apgd-ce, apgd-dlr, apgd-t, fab-t, square.
  static const std::vector<std::string>& known_members();

 private:
  AutoAttackOptions options_;
  std::vector<std::shared_ptr<Attack>> members_;
  std::vector<std::pair<std::string, std::int64_t>> fooled_;
  std::int64_t seen_ = 0;
};

}  // namespace armor
