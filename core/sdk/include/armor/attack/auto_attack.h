#pragma once
// AutoAttack (Croce & Hein 2020): an ensemble run in order, each member only on the images still
// classified correctly; an image is robust only if every member failed. "standard" (L-infinity) is
// APGD-CE, APGD-T (9 targets), FAB-T (9 targets), Square (5000 queries), each 100 iterations and
// one restart; "plus" is APGD-CE, APGD-DLR, FAB (untargeted), Square, APGD-T, FAB-T with 5 restarts of
// the untargeted APGD members and FAB; "rand" (for randomized defenses) is APGD-CE and APGD-DLR with
// 20 EOT iterations (eot_iterations applies to the untargeted APGD members); any other list can be
// given by name.
//
// perturb: x [N,C,H,W] in [0,1], y [N] -> x_adv [N,C,H,W]: per image the point of the first member
// that fooled it, else the clean image. perturb is perturb_set with the batch as one batch.
//
// perturb_set runs the reference's protocol (run_standard_evaluation) over a whole evaluated set:
// member by member, each on the images still robust after the members before it, taken in index
// order and cut into batches of batch_size (every batch re-seeds the member). Per-image results
// then depend on the batch size but not on how a caller split the set: evaluating the set in one
// perturb_set call with batch size B gives the reference's images for bs = B.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "armor/attack/attack.h"

namespace armor {

struct AutoAttackOptions {
  double eps = 8.0 / 255.0;
  Norm norm = Norm::linf;  // every member's (APGD, FAB and Square in L-inf or L2)
  std::vector<std::string> members = {"apgd-ce", "apgd-t", "fab-t", "square"};
  std::uint64_t seed = 0;
  std::int64_t apgd_steps = 100;
  std::int64_t eot_iterations = 1;  // APGD-CE and APGD-DLR (20 in the "rand" version)
  std::int64_t restarts = 1;        // APGD-CE, APGD-DLR and FAB (5 in the "plus" version)
  std::int64_t fab_steps = 100;
  std::int64_t target_classes = 9;
  std::int64_t square_queries = 5000;
};

class AutoAttack : public Attack {
 public:
  // ConfigError naming `attacks` when the members are empty or one is not a known_members() name.
  explicit AutoAttack(AutoAttackOptions options);
  torch::Tensor perturb(Classifier& model, const torch::Tensor& x, const torch::Tensor& y) override;

  // After each batch of a member: the member's index, its batches done and its batches in all.
  using SetProgress = std::function<void(std::size_t member, std::int64_t done, std::int64_t batches)>;

  // x [N,C,H,W] in [0,1], y [N] (any device; each batch runs on `device`) -> x_adv [N,C,H,W] on x's
  // device. TORCH_CHECK on batch_size < 1.
  torch::Tensor perturb_set(Classifier& model, const torch::Tensor& x, const torch::Tensor& y, std::int64_t batch_size,
                            torch::Device device, const SetProgress& progress = {});
  std::string describe() const override;
  std::optional<ThreatBall> threat_ball() const override { return ThreatBall{options_.norm, options_.eps}; }
  // False only for an ensemble of score-based members alone (square).
  bool uses_gradients() const override;

  // Images fooled by each member in every perturb call so far (in member order), and images seen.
  const std::vector<std::pair<std::string, std::int64_t>>& fooled_by_member() const noexcept { return fooled_; }
  std::int64_t images_seen() const noexcept { return seen_; }

  // The names of the members, in the order they run.
  const std::vector<std::string>& members() const noexcept { return options_.members; }

  // The member names AutoAttack knows: apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square.
  static const std::vector<std::string>& known_members();

 private:
  AutoAttackOptions options_;
  std::vector<std::shared_ptr<Attack>> members_;
  std::vector<std::pair<std::string, std::int64_t>> fooled_;
  std::int64_t seen_ = 0;
};

}  // namespace armor
