// LrSchedule: each schedule's value at known steps.

#include <cmath>

#include <gtest/gtest.h>

#include "armor/error.h"
#include "armor/train/lr_schedule.h"

namespace {

// A trainer section: lr 0.1 plus the schedule's defaults, then `changes`.
armor::Params schedule_params(const std::vector<std::pair<std::string, armor::ParamValue>>& changes) {
  armor::Params params("trainer");
  params.set("lr", 0.1, "test");
  const armor::ParamSchema schema = armor::lr_schedule_params();
  for (const auto& spec : schema.specs()) params.set(spec.name, spec.default_value, "default");
  for (const auto& [key, value] : changes) params.set(key, value, "test");
  return params;
}

constexpr double kTolerance = 1e-12;

TEST(LrSchedule, ConstantIsTheRateAtEveryStep) {
  const armor::LrSchedule schedule(schedule_params({{"schedule", std::string("constant")}}), 10, 5);
  EXPECT_EQ(schedule.total_steps(), 50);
  for (const std::int64_t step : {0, 17, 49}) EXPECT_DOUBLE_EQ(schedule.at(step), 0.1);
}

TEST(LrSchedule, CosineStartsAtTheRateHalvesMidwayAndEndsNearZero) {
  const armor::LrSchedule schedule(schedule_params({{"schedule", std::string("cosine")}}), 4, 25);  // 100 steps
  EXPECT_NEAR(schedule.at(0), 0.1, kTolerance);
  EXPECT_NEAR(schedule.at(50), 0.05, kTolerance);
  EXPECT_NEAR(schedule.at(25), 0.05 * (1 + std::cos(M_PI / 4)), kTolerance);
  EXPECT_NEAR(schedule.at(99), 0.05 * (1 + std::cos(M_PI * 99 / 100)), kTolerance);
}

TEST(LrSchedule, CosineWarmUpRisesLinearlyThenFollowsTheCosineOverTheRest) {
  // 10 epochs x 10 steps, 2 warm-up epochs: steps 0..19 rise to 0.1, then a cosine over 80 steps.
  const armor::LrSchedule schedule(schedule_params({{"schedule", std::string("cosine")}, {"warmup_epochs", 2.0}}), 10,
                                   10);
  EXPECT_NEAR(schedule.at(0), 0.1 / 20, kTolerance);
  EXPECT_NEAR(schedule.at(9), 0.1 * 10 / 20, kTolerance);
  EXPECT_NEAR(schedule.at(19), 0.1, kTolerance);
  EXPECT_NEAR(schedule.at(20), 0.1, kTolerance);
  EXPECT_NEAR(schedule.at(60), 0.05, kTolerance);
}

TEST(LrSchedule, PolyDecaysAsAPowerOfTheRemainingShare) {
  const armor::LrSchedule schedule(schedule_params({{"schedule", std::string("poly")}, {"power", 2.0}}), 1, 100);
  EXPECT_NEAR(schedule.at(0), 0.1, kTolerance);
  EXPECT_NEAR(schedule.at(50), 0.1 * 0.25, kTolerance);
  EXPECT_NEAR(schedule.at(90), 0.1 * 0.01, kTolerance);
}

TEST(LrSchedule, StepMultipliesByGammaAtEachMilestoneEpoch) {
  const armor::LrSchedule schedule(
      schedule_params({{"schedule", std::string("step")}, {"milestones", std::string("150, 100")}, {"gamma", 0.2}}),
      200, 10);
  EXPECT_NEAR(schedule.at(999), 0.1, kTolerance);    // epoch 99
  EXPECT_NEAR(schedule.at(1000), 0.02, kTolerance);  // epoch 100
  EXPECT_NEAR(schedule.at(1499), 0.02, kTolerance);
  EXPECT_NEAR(schedule.at(1500), 0.004, kTolerance);
}

TEST(LrSchedule, CyclicRisesToThePeakThenFallsToZeroPerStep) {
  // 100 steps, peak at 40 % (Wong et al.): 0 -> 0.1 over 40 steps, 0.1 -> 0 over 60.
  const armor::LrSchedule schedule(schedule_params({{"schedule", std::string("cyclic")}}), 5, 20);
  EXPECT_NEAR(schedule.at(0), 0.0, kTolerance);
  EXPECT_NEAR(schedule.at(20), 0.05, kTolerance);
  EXPECT_NEAR(schedule.at(40), 0.1, kTolerance);
  EXPECT_NEAR(schedule.at(70), 0.05, kTolerance);
  EXPECT_NEAR(schedule.at(99), 0.1 / 60, kTolerance);
}

TEST(LrSchedule, CyclicWithCycleStepsRepeatsTrianglesBetweenMinAndMax) {
  // Paper 1: between 5e-5 and 1e-4, 500 steps up, 500 down, repeated.
  const armor::LrSchedule schedule(
      schedule_params(
          {{"schedule", std::string("cyclic")}, {"lr", 1e-4}, {"min_lr", 5e-5}, {"cycle_steps", std::int64_t{500}}}),
      10, 300);
  EXPECT_NEAR(schedule.at(0), 5e-5, kTolerance);
  EXPECT_NEAR(schedule.at(250), 7.5e-5, kTolerance);
  EXPECT_NEAR(schedule.at(500), 1e-4, kTolerance);
  EXPECT_NEAR(schedule.at(750), 7.5e-5, kTolerance);
  EXPECT_NEAR(schedule.at(1000), 5e-5, kTolerance);
  EXPECT_NEAR(schedule.at(1500), 1e-4, kTolerance);
}

TEST(LrSchedule, MalformedMilestonesNameTheKeyAndTheItem) {
  try {
    armor::LrSchedule(schedule_params({{"schedule", std::string("step")}, {"milestones", std::string("100,ten")}}), 200,
                      10);
    FAIL() << "expected a ConfigError";
  } catch (const armor::ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("milestones"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("ten"), std::string::npos) << error.what();
  }
}

TEST(LrSchedule, SchemaChecksRejectWarmUpWithCyclicAndStepWithoutMilestones) {
  const armor::ParamSchema schema = armor::lr_schedule_params();
  const auto run_checks = [&](const armor::Params& params) {
    for (const auto& check : schema.checks()) check(params);
  };
  EXPECT_THROW(run_checks(schedule_params({{"schedule", std::string("cyclic")}, {"warmup_epochs", 1.0}})),
               armor::ConfigError);
  EXPECT_THROW(run_checks(schedule_params({{"schedule", std::string("step")}})), armor::ConfigError);
  EXPECT_NO_THROW(run_checks(schedule_params({{"schedule", std::string("cosine")}, {"warmup_epochs", 1.0}})));
}

TEST(LrSchedule, SchemaChecksRejectMalformedMilestonesBeforeTheRun) {
  const armor::ParamSchema schema = armor::lr_schedule_params();
  for (const std::string bad : {"100,ten", "-5", "100,,150", "1.5"}) {
    try {
      for (const auto& check : schema.checks())
        check(schedule_params({{"schedule", std::string("step")}, {"milestones", bad}}));
      ADD_FAILURE() << "expected a ConfigError for milestones = '" << bad << "'";
    } catch (const armor::ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find("trainer.milestones must be a comma-separated list"), std::string::npos)
          << error.what();
    }
  }
  for (const auto& check : schema.checks()) {
    EXPECT_NO_THROW(
        check(schedule_params({{"schedule", std::string("step")}, {"milestones", std::string(" 100, 150 ")}})));
  }
}

}  // namespace
