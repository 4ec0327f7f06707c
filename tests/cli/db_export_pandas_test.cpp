// `armor db export` read by pandas as it is (README "Querying results"): CSV and JSON with typed
// params, a failed run with an awkward error message, NaN metrics, fractions, commas in overrides.
// Runs Debian's python3 with python3-pandas (tools/bootstrap.sh installs both).

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "../e2e/cli_support.h"
#include "armor/store/run_store.h"

namespace armor {
namespace {
namespace fs = std::filesystem;

using armor::testing::Result;

Result shell(const std::string& command) { return armor::testing::run_command_line(command + " 2>&1"); }

NewRun make_run(int index, std::int64_t k, bool noise, const std::string& router, std::vector<std::string> overrides) {
  NewRun run;
  run.index = index;
  run.experiment = "quick.toml";
  run.config = "[model]\nk = " + std::to_string(k) + "\n";
  run.overrides = std::move(overrides);
  run.config_hash = "46df3e5ad03363" + std::to_string(10 + index);
  run.revision = "v0.1-3-gabc";
  run.host = "box";
  run.params = {{"model.k", ParamValue{k}},
                {"gate.noise", ParamValue{noise}},
                {"gate.router", ParamValue{router}},
                {"attack.eps", ParamValue{8.0 / 255}}};
  return run;
}

TEST(DbExportPandasTest, PandasReadsCsvAndJsonAsTheyAre) {
  const fs::path dir = fs::temp_directory_path() / ("armor_db_export_pandas_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db = (dir / "runs.db").string();
  {
    RunStore store(db);
    const auto [sweep, ids] = store.queue().add_sweep(
        NewSweep{"grid", "quick.toml", "model.k=1,2,4"},
        {make_run(0, 1, true, "gap_fc", {"model.k=1"}), make_run(1, 2, false, "conv_gap", {"model.k=2"}),
         make_run(2, 4, true, "2conv_gap", {"trainer.milestones=[10,20]", "model.k=4"})});
    store.queue().finish_run(ids[0], {{"clean_acc", 0.75}, {"pgd20_acc", 0.5}});
    store.queue().fail_run(ids[1], "bad value, \"quoted\";\nsecond line, \xc3\xbc");
    store.queue().finish_run(ids[2], {{"clean_acc", 0.5}, {"pgd20_acc", std::nan("")}});
    store.queue().finish_sweep(sweep);
  }
  const std::string armor = std::string(ARMOR_TEST_BINARY_DIR) + "/armor db export --db " + db;
  const std::string csv = (dir / "runs.csv").string();
  const std::string json = (dir / "runs.json").string();
  ASSERT_EQ(shell(armor + " --format csv > " + csv).exit_code, 0);
  ASSERT_EQ(shell(armor + " --format json -o " + json).exit_code, 0);

  const Result pandas = shell("/usr/bin/python3 " + std::string(ARMOR_TEST_SOURCE_DIR) +
                              "/tests/cli/read_export_with_pandas.py " + csv + " " + json);
  EXPECT_EQ(pandas.exit_code, 0) << pandas.output
                                 << "\n(needs Debian's python3-pandas: tools/bootstrap.sh installs it)";
  EXPECT_NE(pandas.output.find("pandas reads the export"), std::string::npos) << pandas.output;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace armor
