// parse_inline_params: a nested component's settings in one string key, checked like a section.

#include <gtest/gtest.h>

#include "armor/error.h"
#include "armor/params/inline_params.h"

namespace {

armor::ParamSchema schema() {
  return armor::ParamSchema()
      .integer("depth", 18, "depth", 10, 50)
      .real("width", 1.0, "width", 0.0)
      .string("stem", "cifar", "stem", {"cifar", "imagenet"})
      .boolean("wide", false, "wide")
      .integer("num_experts", 4, "experts", 1)
      .check([](const armor::Params& p) {
        if (p.integer("depth") == 11) p.fail("depth", "is not a ResNet depth");
      });
}

std::string error_of(const std::string& text) {
  try {
    armor::parse_inline_params(text, schema(), "model.expert_params", "x.toml:3:1");
  } catch (const armor::ConfigError& error) {
    return error.what();
  }
  return "no error";
}

TEST(InlineParamsTest, FillsGivenValuesThenPresetsThenDefaults) {
  const armor::Params p =
      armor::parse_inline_params("depth = 34, width = 2, stem = 'imagenet'", schema(), "model.expert_params",
                                 "x.toml:3:1", {{"num_experts", std::int64_t{1}}});
  EXPECT_EQ(p.section(), "model.expert_params");
  EXPECT_EQ(p.integer("depth"), 34);
  EXPECT_DOUBLE_EQ(p.real("width"), 2.0);  // an integer is a valid float
  EXPECT_EQ(p.string("stem"), "imagenet");
  EXPECT_FALSE(p.boolean("wide"));
  EXPECT_EQ(p.origin("wide"), "default");
  EXPECT_EQ(p.integer("num_experts"), 1);
  EXPECT_EQ(p.origin("depth"), "x.toml:3:1");
  EXPECT_EQ(
      armor::parse_inline_params("", schema(), "s", "o", {{"num_experts", std::int64_t{2}}}).integer("num_experts"), 2);
  EXPECT_EQ(armor::parse_inline_params("num_experts = 3", schema(), "s", "o", {{"num_experts", std::int64_t{2}}})
                .integer("num_experts"),
            3);
}

TEST(InlineParamsTest, BadSettingsAreConfigErrorsNamingTheOriginAndKey) {
  EXPECT_EQ(
      error_of("depht = 10").rfind("x.toml:3:1: unknown key model.expert_params.depht (did you mean 'depth'?)", 0), 0u)
      << error_of("depht = 10");
  EXPECT_EQ(error_of("depth = 8"), "x.toml:3:1: model.expert_params.depth must be >= 10 (got 8)");
  EXPECT_EQ(error_of("depth = 1.5"), "x.toml:3:1: model.expert_params.depth must be an integer, not a float (got 1.5)");
  EXPECT_NE(error_of("stem = 'cifra'").find("must be one of cifar, imagenet (did you mean 'cifar'?)"),
            std::string::npos);
  EXPECT_EQ(error_of("depth = 11"), "x.toml:3:1: model.expert_params.depth is not a ResNet depth (got 11)");
  EXPECT_NE(error_of("depth = [1]").find("model.expert_params.depth must be an integer (got a table, an array"),
            std::string::npos);
  EXPECT_NE(error_of("depth = ").find("must be the body of a TOML inline table"), std::string::npos);
  EXPECT_NE(error_of("depth = 10 }, x = {").find("must be the body of a TOML inline table"), std::string::npos);
}

}  // namespace
