#pragma once
// Helpers for end-to-end tests that run the armor program and read the results database.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "armor/store/results_reader.h"
#include "armor/store/run_store.h"

namespace armor::testing {

struct Result {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline std::string armor_program() { return std::string(ARMOR_TEST_BINARY_DIR) + "/armor"; }

// Runs a shell command line as it is and waits for it: its stdout (redirect stderr in the line to
// see it) and its exit code (128 + signal when killed).
inline Result run_command_line(const std::string& command) {
  Result result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) result.output += buffer;
  const int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

// A whole file as text ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

// How often `part` occurs in `text`, without overlaps.
inline int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + part.size())) ++n;
  return n;
}

// Runs `armor <arguments>` through the shell and waits for it; stdout and stderr together.
inline Result run_armor(const std::string& arguments) {
  return run_command_line(armor_program() + " " + arguments + " 2>&1");
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

inline std::string quickstart() { return std::string(ARMOR_TEST_SOURCE_DIR) + "/experiments/quickstart.toml"; }

// Overrides that make the quickstart a run of a few seconds.
inline std::string tiny() {
  return "trainer.epochs=1 data.train_limit=256 data.test_limit=128 eval.attacks.pgd20.steps=2";
}

// A fresh folder per test with a runs.db path in it; queries read it through RunStore.
class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("armor_e2e_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = (dir_ / "runs.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string outputs() const { return (dir_ / "outputs").string(); }

  std::string scalar(const std::string& sql) const {
    const ResultsReader store(db_, ResultsReader::Mode::read_only);
    const QueryResult result = store.query(sql);
    return result.rows.empty() ? "" : result.rows[0][0];
  }
  std::int64_t count_runs() const {
    if (!std::filesystem::exists(db_)) return 0;
    return std::stoll(scalar("SELECT count(*) FROM runs"));
  }

  std::filesystem::path dir_;
  std::string db_;
};

}  // namespace armor::testing
