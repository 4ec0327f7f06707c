#include "armor/sweep/early_stop.h"

#include <gtest/gtest.h>

namespace {

TEST(EarlyStopTest, RungsFallAtMinEpochsTimesPowersOfEta) {
  armor::EarlyStop stop;
  stop.eta = 3;
  stop.min_epochs = 2;
  for (int epoch = 1; epoch <= 60; ++epoch) {
    const bool expected = epoch == 2 || epoch == 6 || epoch == 18 || epoch == 54;
    EXPECT_EQ(stop.is_rung(epoch), expected) << "epoch " << epoch;
  }
}

TEST(EarlyStopTest, TheOnlyRunAtARungGoesOn) {
  armor::EarlyStop stop;
  EXPECT_TRUE(stop.promotes(0.1, {0.1}));
}

TEST(EarlyStopTest, WithFewerRunsThanEtaOnlyTheBestGoesOn) {
  armor::EarlyStop stop;  // eta 3, maximise
  EXPECT_TRUE(stop.promotes(0.8, {0.8, 0.5}));
  EXPECT_FALSE(stop.promotes(0.5, {0.8, 0.5}));
}

TEST(EarlyStopTest, TheBestThirdGoesOnWhenMaximising) {
  armor::EarlyStop stop;
  const std::vector<double> rung{0.1, 0.9, 0.3, 0.7, 0.5, 0.8};  // top 6/3 = 2: 0.9 and 0.8
  EXPECT_TRUE(stop.promotes(0.9, rung));
  EXPECT_TRUE(stop.promotes(0.8, rung));
  EXPECT_FALSE(stop.promotes(0.7, rung));
  EXPECT_FALSE(stop.promotes(0.1, rung));
}

TEST(EarlyStopTest, MinimisingKeepsTheLowestValues) {
  armor::EarlyStop stop;
  stop.maximize = false;
  stop.eta = 2;
  const std::vector<double> rung{2.0, 1.0, 3.0, 4.0};  // best 4/2 = 2: 1.0 and 2.0
  EXPECT_TRUE(stop.promotes(1.0, rung));
  EXPECT_TRUE(stop.promotes(2.0, rung));
  EXPECT_FALSE(stop.promotes(3.0, rung));
  EXPECT_EQ(stop.describe(), "asha(train_acc, min, eta=2, min_epochs=1)");
}

}  // namespace
