#include "armor/plugin/registry.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "armor/error.h"
#include "armor/plugin/plugin_info.h"
#include "armor/plugin/plugin_loader.h"

namespace {

std::string fixture(const std::string& name) { return std::string(ARMOR_TEST_PLUGIN_DIR) + "/" + name; }

// The message of the PluginError `load` throws for `path`; fails the test when nothing is thrown.
std::string load_error(const std::string& path) {
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  try {
    loader.load(path);
  } catch (const armor::PluginError& error) {
    EXPECT_EQ(error.library(), path);
    return error.what();
  }
  ADD_FAILURE() << "loading " << path << " did not throw";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(PluginLoaderTest, LoadsAGoodPluginAndRegistersItsComponents) {
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  loader.load(fixture("good_plugin.so"));
  ASSERT_EQ(loader.loaded().size(), 1u);
  EXPECT_EQ(loader.loaded()[0].name, "good_plugin");
  EXPECT_EQ(loader.loaded()[0].version, "1.2.3");
  const armor::ComponentInfo* info = registry.find(armor::PluginKind::balancing, "test_balancing");
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->library, fixture("good_plugin.so"));
  ASSERT_NE(info->params.find("scale"), nullptr);
  EXPECT_EQ(std::get<double>(info->params.find("scale")->default_value), 2.0);
  EXPECT_TRUE(static_cast<bool>(registry.balancing("test_balancing")));
}

TEST(PluginLoaderTest, LoadRejectsWrongApiVersion) {
  const std::string message = load_error(fixture("wrong_version_plugin.so"));
  EXPECT_TRUE(contains(message, "plugin API version " + std::to_string(armor::kApiVersion + 41))) << message;
  EXPECT_TRUE(contains(message, "supports version " + std::to_string(armor::kApiVersion))) << message;
}

TEST(PluginLoaderTest, LoadRejectsALibraryWithoutEntryPoint) {
  const std::string message = load_error(fixture("not_a_plugin.so"));
  EXPECT_TRUE(contains(message, "not an armor plugin")) << message;
}

TEST(PluginLoaderTest, LoadRejectsAFileThatIsNotASharedLibrary) {
  const std::string message = load_error(fixture("text_file.so"));
  EXPECT_TRUE(contains(message, "not a loadable shared library")) << message;
}

TEST(PluginLoaderTest, LoadRejectsAMissingFile) {
  const std::string message = load_error(fixture("no_such_plugin.so"));
  EXPECT_TRUE(contains(message, "no such file")) << message;
}

TEST(PluginLoaderTest, RegistrationThatThrowsBecomesAPluginErrorNamingTheLibrary) {
  const std::string message = load_error(fixture("throwing_plugin.so"));
  EXPECT_TRUE(contains(message, "kaboom while registering")) << message;
}

TEST(PluginLoaderTest, DuplicateNameNamesBothLibraries) {
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  loader.load(fixture("good_plugin.so"));
  try {
    loader.load(fixture("duplicate_plugin.so"));
    FAIL() << "a duplicate name was accepted";
  } catch (const armor::PluginError& error) {
    const std::string message = error.what();
    EXPECT_EQ(error.library(), fixture("duplicate_plugin.so"));
    EXPECT_TRUE(contains(message, "duplicate balancing 'test_balancing'")) << message;
    EXPECT_TRUE(contains(message, fixture("good_plugin.so"))) << message;
  }
}

TEST(PluginLoaderTest, SearchPathRejectsAMissingExplicitFolderButSkipsAMissingDefault) {
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  EXPECT_THROW(loader.load_search_path({"/no/such/folder"}, {}), armor::PluginError);
  EXPECT_NO_THROW(loader.load_search_path({}, {"/no/such/default/folder"}));
  EXPECT_TRUE(loader.loaded().empty());
}

TEST(PluginLoaderTest, SearchPathLoadsEveryLibraryOfAFolderAndTheFirstFolderWins) {
  namespace fs = std::filesystem;
  const fs::path first = fs::temp_directory_path() / "armor_registry_test_first";
  const fs::path second = fs::temp_directory_path() / "armor_registry_test_second";
  fs::remove_all(first);
  fs::remove_all(second);
  fs::create_directories(first);
  fs::create_directories(second);
  fs::copy_file(fixture("good_plugin.so"), first / "good_plugin.so");
  fs::copy_file(fixture("good_plugin.so"), second / "good_plugin.so");  // hidden by the first folder
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  loader.load_search_path({first.string()}, {second.string()});
  ASSERT_EQ(loader.loaded().size(), 1u);
  EXPECT_EQ(loader.loaded()[0].path, (first / "good_plugin.so").string());
}

TEST(PluginLoaderTest, EnvironmentPluginPathIsSearchedAfterTheCommandLine) {
  armor::Registry registry;
  armor::PluginLoader loader(registry);
  ::setenv("ARMOR_PLUGIN_PATH", fixture("good_plugin.so").c_str(), 1);
  loader.load_search_path({}, {});
  ::unsetenv("ARMOR_PLUGIN_PATH");
  ASSERT_EQ(loader.loaded().size(), 1u);
  EXPECT_EQ(loader.loaded()[0].name, "good_plugin");
}

TEST(RegistryTest, UnknownNameSuggestsTheClosestAndListsTheRegistered) {
  armor::Registry registry;
  registry.add_attack("pgd", "doc", armor::ParamSchema(),
                      [](const armor::Params&) { return std::shared_ptr<armor::Attack>(); });
  try {
    registry.info(armor::PluginKind::attack, "pgdd");
    FAIL() << "an unknown attack was found";
  } catch (const armor::ConfigError& error) {
    const std::string message = error.what();
    EXPECT_TRUE(contains(message, "unknown attack 'pgdd'")) << message;
    EXPECT_TRUE(contains(message, "did you mean 'pgd'?")) << message;
  }
}

TEST(RegistryTest, TheSameNameMayServeTwoKinds) {
  armor::Registry registry;
  registry.add_attack("x", "doc", armor::ParamSchema(),
                      [](const armor::Params&) { return std::shared_ptr<armor::Attack>(); });
  registry.add_trainer("x", "doc", armor::ParamSchema(),
                       [](const armor::Params&) { return std::shared_ptr<armor::Trainer>(); });
  EXPECT_NE(registry.find(armor::PluginKind::attack, "x"), nullptr);
  EXPECT_NE(registry.find(armor::PluginKind::trainer, "x"), nullptr);
  EXPECT_EQ(registry.find(armor::PluginKind::gate, "x"), nullptr);
  EXPECT_EQ(registry.components().size(), 2u);
}

}  // namespace
