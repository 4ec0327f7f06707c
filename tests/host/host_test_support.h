#pragma once
// A small results database for the host's unit tests, made with the store API: one sweep of eight
// runs over model.num_experts in {2, 4}, model.k in {1, 2} and two seeds each, all finished with
// clean_acc and pgd_acc, and their training curves.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "armor/error.h"
#include "armor/store/run_store.h"

namespace armor::testing {

// EXPECT_TRUE(contains(text, part)) prints both when it fails.
inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

// What a query that must refuse says: the UsageError's message ("" and a test failure without one).
template <typename Body>
std::string usage_error_of(Body&& body) {
  try {
    body();
  } catch (const UsageError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a UsageError";
  return "";
}

// clean_acc of a run: 0.5 + 0.1 * k + 0.01 * experts + 0.001 * seed; pgd_acc: half of it.
inline double clean_acc_of(std::int64_t experts, std::int64_t k, std::int64_t seed) {
  return 0.5 + 0.1 * static_cast<double>(k) + 0.01 * static_cast<double>(experts) + 0.001 * static_cast<double>(seed);
}

class SweepStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<RunStore>(":memory:");
    std::vector<NewRun> runs;
    int index = 0;
    for (const std::int64_t experts : {2, 4}) {
      for (const std::int64_t k : {1, 2}) {
        for (const std::int64_t seed : {0, 1}) {
          NewRun run;
          run.index = index++;
          run.experiment = "experiments/moe.toml";
          run.overrides = {"model.num_experts=" + std::to_string(experts), "model.k=" + std::to_string(k),
                           "seed=" + std::to_string(seed)};
          run.config = "[model]\nk = " + std::to_string(k) + "\n";
          run.config_hash = "hash-" + std::to_string(run.index);
          run.seed = seed;
          run.host = "testhost";
          run.params = {{"model.num_experts", ParamValue{experts}},
                        {"model.k", ParamValue{k}},
                        {"trainer.lr", ParamValue{0.1}},
                        {"seed", ParamValue{seed}}};
          runs.push_back(run);
        }
      }
    }
    const auto [sweep, ids] = store_->queue().add_sweep(NewSweep{"moe", "experiments/moe.toml", "model.k=1,2"}, runs);
    sweep_ = sweep;
    ids_ = ids;
    for (std::size_t i = 0; i < ids_.size(); ++i) {
      const auto experts = std::get<std::int64_t>(runs[i].params[0].second);
      const auto k = std::get<std::int64_t>(runs[i].params[1].second);
      const double clean = clean_acc_of(experts, k, runs[i].seed);
      store_->records().record_epoch_metrics(ids_[i], 1, {{"train_loss", 2.0}});
      store_->records().record_epoch_metrics(ids_[i], 2, {{"train_loss", 1.0}});
      store_->queue().finish_run(ids_[i], {{"clean_acc", clean}, {"pgd_acc", clean / 2}});
    }
  }

  std::unique_ptr<RunStore> store_;
  std::int64_t sweep_ = 0;
  std::vector<std::int64_t> ids_;
};

}  // namespace armor::testing
