#pragma once
// What the store's tests share: runs and sweeps to record, a scalar query, the message of a
// StoreError, and a temporary folder for database files.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "armor/error.h"
#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::store_test {

// EXPECT_TRUE(contains(text, part)) prints both when it fails (plain gtest, no gmock needed).
inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

inline NewRun make_run(int index, std::int64_t k) {
  NewRun run;
  run.index = index;
  run.experiment = "experiments/moe.toml";
  run.config = "[model]\nk = " + std::to_string(k) + "\n";
  run.overrides = {"model.k=" + std::to_string(k)};
  run.config_hash = "hash" + std::to_string(k);
  run.seed = 42 + index;
  run.revision = "abc123";
  run.host = "testhost";
  run.params = {{"model.k", ParamValue{k}},
                {"train.lr", ParamValue{0.1}},
                {"model.name", ParamValue{std::string("moe")}},
                {"train.augment", ParamValue{true}}};
  return run;
}

inline NewSweep make_sweep() { return NewSweep{"k-sweep", "experiments/moe.toml", "model.k=1,2,3"}; }

// The single cell of a one-row, one-column query.
inline std::string scalar(const ResultsReader& reader, const std::string& sql) {
  const QueryResult result = reader.query(sql);
  if (result.rows.size() != 1 || result.rows[0].size() != 1) {
    ADD_FAILURE() << "expected one cell from " << sql;
    return "";
  }
  return result.rows[0][0];
}
inline std::string scalar(const RunStore& store, const std::string& sql) { return scalar(store.reader(), sql); }

// The message of the StoreError `body` throws, or a test failure when it throws none.
template <typename Body>
std::string store_error_of(Body&& body) {
  try {
    body();
  } catch (const StoreError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a StoreError";
  return "";
}

// A fresh directory for database files, removed with everything in it (WAL and SHM files too).
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("armor_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace armor::store_test
