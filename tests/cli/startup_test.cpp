// The armor program links no LibTorch, and the commands that train nothing never load it: checked
// in the dynamic loader's own record (LD_DEBUG=libs) of what each command opened.

#include <gtest/gtest.h>

#include <string>

#include "../e2e/cli_support.h"

namespace armor::testing {
namespace {

// The shared objects the loader opened for `armor <arguments>` that mention LibTorch.
bool loads_libtorch(const std::string& arguments, const std::string& cache) {
  const Result traced = run_command_line("ARMOR_CACHE_DIR=" + cache + " LD_DEBUG=libs " + armor_program() + " " +
                                         arguments + " 2>&1 >/dev/null");
  return contains(traced.output, "libtorch_cpu.so") || contains(traced.output, "libc10.so");
}

class StartupTest : public CliTest {};

TEST_F(StartupTest, CommandsThatTrainNothingNeverLoadLibTorch) {
  const std::string cache = (dir_ / "cache").string();
  // A first `armor config` writes the plugins' manifests (it loads the plugins to do so).
  const Result first =
      run_command_line("ARMOR_CACHE_DIR=" + cache + " " + armor_program() + " config " + quickstart() + " 2>&1");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  ASSERT_EQ(run_armor("run " + quickstart() + " " + tiny() + " --record-only --db " + db_).exit_code, 0);
  EXPECT_FALSE(loads_libtorch("--help", cache));
  EXPECT_FALSE(loads_libtorch("config " + quickstart() + " model.k=2", cache));
  EXPECT_FALSE(loads_libtorch("db list --db " + db_, cache));
  EXPECT_FALSE(loads_libtorch("sweep status 1 --db " + db_, cache));
  // The check can fail: the commands that need tensors load the run side, and LibTorch with it.
  EXPECT_TRUE(loads_libtorch("plugins", cache));
  EXPECT_TRUE(loads_libtorch("config " + quickstart() + " --check", cache));
}

TEST_F(StartupTest, ConfigFromManifestsEqualsConfigFromThePlugins) {
  const std::string cache = (dir_ / "cache").string();
  const std::string command = "ARMOR_CACHE_DIR=" + cache + " " + armor_program() + " config " + quickstart() +
                              " model.num_experts=4 attack.eps=4/255 2>&1";
  const Result cold = run_command_line(command);  // no manifests yet: loads the plugins, writes them
  const Result warm = run_command_line(command);  // from the manifests
  const Result checked = run_command_line(command + " --check");
  ASSERT_EQ(cold.exit_code, 0) << cold.output;
  EXPECT_EQ(warm.output, cold.output);
  EXPECT_EQ(checked.output, cold.output);
  // The manifests' schemas catch a typo, with the suggestion the plugin's schema gives.
  const Result typo = run_command_line("ARMOR_CACHE_DIR=" + cache + " " + armor_program() + " config " + quickstart() +
                                       " model.num_expert=2 2>&1");
  EXPECT_EQ(typo.exit_code, 2) << typo.output;
  EXPECT_TRUE(contains(typo.output, "num_experts")) << typo.output;
  // And the plugins' declared constraints, which manifests carry.
  const Result k = run_command_line("ARMOR_CACHE_DIR=" + cache + " LD_DEBUG=libs " + armor_program() + " config " +
                                    quickstart() + " model.k=5 model.num_experts=4 2>&1");
  EXPECT_EQ(k.exit_code, 2) << k.output;
  EXPECT_TRUE(contains(k.output, "k <= num_experts does not hold (k = 5, num_experts = 4)")) << k.output;
  EXPECT_FALSE(contains(k.output, "libtorch_cpu.so")) << "checked from the manifests, without LibTorch";
}

}  // namespace
}  // namespace armor::testing
