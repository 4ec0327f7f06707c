// Bad attack settings reaching the SDK are ConfigErrors naming the key and the value, never
// std::invalid_argument (which the host would report as a crash, exit 1).

#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "armor/attack/attack_loss.h"
#include "armor/attack/auto_attack.h"
#include "armor/attack/threat_model.h"
#include "armor/error.h"
#include "armor/params/params.h"

namespace {

armor::Params attack_section(const std::string& key, const std::string& value) {
  armor::Params params("attack");
  params.set(key, value, "exp.toml:7:8");
  return params;
}

// The ConfigError's message, or a failure when `action` throws nothing or something else.
template <typename Action>
std::string config_error(Action action) {
  try {
    action();
  } catch (const armor::ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(AttackOptionsTest, AnUnknownNormIsAConfigErrorNamingTheKeyAndTheValue) {
  EXPECT_EQ(armor::norm_from_string(attack_section("norm", "L2"), "norm"), armor::Norm::l2);
  EXPECT_EQ(config_error([] { armor::norm_from_string(attack_section("norm", "l3"), "norm"); }),
            "exp.toml:7:8: attack.norm must be Linf or L2 (got \"l3\")");
  EXPECT_EQ(config_error([] { armor::norm_from_string("l3"); }), "norm must be Linf or L2 (got 'l3')");
}

TEST(AttackOptionsTest, AnUnknownAttackLossIsAConfigErrorNamingTheKeyAndTheValue) {
  EXPECT_EQ(armor::attack_loss_from_string(attack_section("loss", "dlr"), "loss"), armor::AttackLoss::dlr);
  EXPECT_EQ(config_error([] { armor::attack_loss_from_string(attack_section("loss", "mse"), "loss"); }),
            "exp.toml:7:8: attack.loss must be ce or dlr (got \"mse\")");
  EXPECT_EQ(config_error([] { armor::attack_loss_from_string("mse"); }), "attack loss must be ce or dlr (got 'mse')");
}

TEST(AttackOptionsTest, AutoAttackMembersThatCannotRunAreAConfigErrorNamingTheKey) {
  armor::AutoAttackOptions unknown;
  unknown.members = {"apgd-ce", "pgd"};
  const std::string message = config_error([&] { armor::AutoAttack attack(unknown); });
  EXPECT_NE(message.find("attacks names an unknown AutoAttack member (got 'pgd'"), std::string::npos) << message;
  armor::AutoAttackOptions none;
  none.members.clear();
  EXPECT_EQ(config_error([&] { armor::AutoAttack attack(none); }),
            "attacks must list at least one AutoAttack member (got none)");
}

}  // namespace
