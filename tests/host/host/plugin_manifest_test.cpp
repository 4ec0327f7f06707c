// Plugin manifests: what the run side writes when it loads a library is what the host reads back,
// and a manifest that no longer describes its library is never used.

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "armor/host/plugin_manifest.h"
#include "armor/params/params.h"

namespace armor {
namespace {
namespace fs = std::filesystem;

class PluginManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("armor_manifest_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "plugins");
    setenv("ARMOR_CACHE_DIR", (dir_ / "cache").c_str(), 1);
    library_ = (dir_ / "plugins" / "armor_fake.so").string();
    std::ofstream(library_) << "not really a library: manifests only look at size and time";
    ComponentInfo gate{PluginKind::gate, "fake_gate", "a gate for the test", {}, library_};
    gate.params.integer("num_experts", 4, "experts", 1, 64)
        .real("noise", 0.5, "noise scale", 0)
        .boolean("train", true, "trains")
        .string("mode", "soft", "mode", {"soft", "hard"})
        .constraint("noise <= num_experts", "noise stays small")
        .check([](const Params&) {});
    catalog_.add(gate);
    catalog_.add(
        ComponentInfo{PluginKind::dataset, "fake_data", "built in", ParamSchema().integer("size", 8, "n"), "built-in"});
    search_.cli_paths = {(dir_ / "plugins").string()};
  }
  void TearDown() override {
    unsetenv("ARMOR_CACHE_DIR");
    fs::remove_all(dir_);
  }

  void write_both() {
    write_manifest(catalog_, "built-in");
    write_manifest(catalog_, library_);
  }

  fs::path dir_;
  std::string library_;
  Catalog catalog_;
  PluginSearch search_;
};

TEST_F(PluginManifestTest, ReadsBackEverySchemaFieldWithoutTheChecks) {
  write_both();
  const std::unique_ptr<Catalog> read = catalog_from_manifests(search_);
  ASSERT_NE(read, nullptr);
  EXPECT_FALSE(read->has_checks());
  const ComponentInfo& gate = read->info(PluginKind::gate, "fake_gate");
  EXPECT_EQ(gate.summary, "a gate for the test");
  EXPECT_EQ(gate.library, library_);
  ASSERT_EQ(gate.params.specs().size(), 4u);
  const ParamSpec* experts = gate.params.find("num_experts");
  ASSERT_NE(experts, nullptr);
  EXPECT_EQ(experts->type, ParamType::integer);
  EXPECT_EQ(std::get<std::int64_t>(experts->default_value), 4);
  EXPECT_EQ(experts->min, 1.0);
  EXPECT_EQ(experts->max, 64.0);
  EXPECT_EQ(std::get<double>(gate.params.find("noise")->default_value), 0.5);
  EXPECT_FALSE(gate.params.find("noise")->max.has_value());
  EXPECT_EQ(std::get<bool>(gate.params.find("train")->default_value), true);
  EXPECT_EQ(gate.params.find("mode")->choices, (std::vector<std::string>{"soft", "hard"}));
  EXPECT_TRUE(gate.params.checks().empty());
  ASSERT_EQ(gate.params.constraints().size(), 1u);
  EXPECT_EQ(gate.params.constraints()[0].expression, "noise <= num_experts");
  EXPECT_EQ(gate.params.constraints()[0].doc, "noise stays small");
  EXPECT_EQ(read->info(PluginKind::dataset, "fake_data").library, "built-in");
}

TEST_F(PluginManifestTest, AChangedLibraryMakesItsManifestStale) {
  write_both();
  ASSERT_NE(catalog_from_manifests(search_), nullptr);
  std::ofstream(library_, std::ios::app) << " rebuilt";
  EXPECT_EQ(catalog_from_manifests(search_), nullptr);
}

TEST_F(PluginManifestTest, AMissingOrDamagedManifestIsNotUsed) {
  write_manifest(catalog_, "built-in");
  EXPECT_EQ(catalog_from_manifests(search_), nullptr) << "the plugin's manifest was never written";
  write_manifest(catalog_, library_);
  ASSERT_NE(catalog_from_manifests(search_), nullptr);
  for (const auto& file : fs::directory_iterator(manifest_dir())) std::ofstream(file.path()) << "{ not json";
  EXPECT_EQ(catalog_from_manifests(search_), nullptr);
}

}  // namespace
}  // namespace armor
