// Options shared by several subcommands before the subcommand's name: `armor --db x.db db list`.

#include "global_options.h"

#include <gtest/gtest.h>

#include "armor/error.h"

namespace armor::app {
namespace {

std::string usage_error_of(const std::vector<std::string>& words) {
  try {
    split_command_line(words);
  } catch (const UsageError& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected a UsageError";
  return "";
}

TEST(GlobalOptionsTest, SharedOptionsBeforeTheCommandArePassedOnAfterItsArguments) {
  const CommandLine line = split_command_line({"--db", "x.db", "--plugin-path=/p", "db", "list", "--sort", "id"});
  EXPECT_EQ(line.command, "db");
  EXPECT_EQ(line.args, (std::vector<std::string>{"list", "--sort", "id", "--db", "x.db", "--plugin-path=/p"}));
}

TEST(GlobalOptionsTest, ACommandWithoutLeadingOptionsIsLeftAsItIs) {
  const CommandLine line = split_command_line({"run", "e.toml", "--db", "y.db"});
  EXPECT_EQ(line.command, "run");
  EXPECT_EQ(line.args, (std::vector<std::string>{"e.toml", "--db", "y.db"}));
}

TEST(GlobalOptionsTest, PluginPathMayRepeat) {
  const CommandLine line = split_command_line({"--plugin-path", "/a", "--plugin-path", "/b", "plugins"});
  EXPECT_EQ(line.args, (std::vector<std::string>{"--plugin-path", "/a", "--plugin-path", "/b"}));
}

TEST(GlobalOptionsTest, HelpAndVersionStillWork) {
  EXPECT_TRUE(split_command_line({"--help"}).help);
  EXPECT_TRUE(split_command_line({"--db", "x.db", "-h"}).help);
  EXPECT_TRUE(split_command_line({"help"}).help);
  EXPECT_TRUE(split_command_line({"--version"}).version);
}

TEST(GlobalOptionsTest, AnUnknownLeadingOptionIsAUsageErrorNamingIt) {
  const std::string message = usage_error_of({"--dbb", "x.db", "db", "list"});
  EXPECT_NE(message.find("unknown option '--dbb' before the command"), std::string::npos) << message;
  EXPECT_NE(message.find("did you mean '--db'"), std::string::npos) << message;
}

TEST(GlobalOptionsTest, ASharedOptionNeedsItsValueAndACommandAfterIt) {
  EXPECT_NE(usage_error_of({"--db"}).find("--db needs a value"), std::string::npos);
  EXPECT_NE(usage_error_of({"--db", "x.db"}).find("a command must follow --db x.db"), std::string::npos);
}

}  // namespace
}  // namespace armor::app
