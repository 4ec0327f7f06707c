// Declared constraints: the schema keeps them as data (ParamSchema::constraint, copied by extend),
// armor::moe_params() declares the MoE rule once, and the host evaluates them
// (check_declared_constraints) and names them over dotted keys (qualified_constraint).

#include <string>

#include <gtest/gtest.h>

#include "armor/config/declared_constraints.h"
#include "armor/error.h"
#include "armor/params/moe_params.h"
#include "armor/params/param_schema.h"
#include "armor/params/params.h"

namespace {

// The schema's defaults in section "model", then `k` and `num_experts` from an override and a file.
armor::Params moe_section(const armor::ParamSchema& schema, std::int64_t k, std::int64_t num_experts) {
  armor::Params params("model");
  for (const armor::ParamSpec& spec : schema.specs()) params.set(spec.name, spec.default_value, "default");
  params.set("k", k, "override 'model.k=" + std::to_string(k) + "'");
  params.set("num_experts", num_experts, "exp.toml:3:15");
  return params;
}

std::string config_error(const armor::Params& params, const armor::ParamSchema& schema) {
  try {
    armor::check_declared_constraints(params, schema);
  } catch (const armor::ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ParamSchemaTest, KeepsDeclaredConstraintsAsDataAndExtendCopiesThem) {
  armor::ParamSchema shared;
  shared.integer("a", 1, "A").integer("b", 2, "B").constraint("a <= b", "a fits in b");
  EXPECT_TRUE(armor::ParamSchema().constraints().empty());
  ASSERT_EQ(shared.constraints().size(), 1u);
  EXPECT_EQ(shared.constraints()[0].expression, "a <= b");
  EXPECT_EQ(shared.constraints()[0].doc, "a fits in b");

  armor::ParamSchema plugin;
  plugin.integer("c", 0, "C").extend(shared).constraint("c < 10", "small");
  ASSERT_EQ(plugin.constraints().size(), 2u);
  EXPECT_EQ(plugin.constraints()[0].expression, "a <= b");
  EXPECT_EQ(plugin.constraints()[1].expression, "c < 10");
  EXPECT_EQ(plugin.names(), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(MoeParamsTest, DeclareNumExpertsKAndTheirConstraintOnce) {
  const armor::ParamSchema schema = armor::moe_params(1, "1 = the dense ViT");
  ASSERT_NE(schema.find("num_experts"), nullptr);
  ASSERT_NE(schema.find("k"), nullptr);
  EXPECT_EQ(std::get<std::int64_t>(schema.find("num_experts")->default_value), 1);
  EXPECT_EQ(schema.find("num_experts")->min, 1.0);
  EXPECT_NE(schema.find("num_experts")->doc.find("1 = the dense ViT"), std::string::npos);
  EXPECT_EQ(std::get<std::int64_t>(schema.find("k")->default_value), 1);
  EXPECT_EQ(schema.find("k")->min, 1.0);
  ASSERT_EQ(schema.constraints().size(), 1u);
  EXPECT_EQ(schema.constraints()[0].expression, "k <= num_experts");
  EXPECT_TRUE(schema.checks().empty()) << "the rule is a declared constraint, not a lambda";
  EXPECT_EQ(std::get<std::int64_t>(armor::moe_params().find("num_experts")->default_value), 4);
}

TEST(DeclaredConstraintsTest, AHoldingConstraintPasses) {
  const armor::ParamSchema schema = armor::moe_params();
  EXPECT_NO_THROW(armor::check_declared_constraints(moe_section(schema, 2, 4), schema));
  EXPECT_NO_THROW(armor::check_declared_constraints(moe_section(schema, 4, 4), schema));
}

TEST(DeclaredConstraintsTest, ABrokenConstraintIsAConfigErrorNamingTheSectionTheRuleAndTheValues) {
  const armor::ParamSchema schema = armor::moe_params();
  EXPECT_EQ(config_error(moe_section(schema, 5, 4), schema),
            "override 'model.k=5': model: k <= num_experts does not hold (k = 5, num_experts = 4): "
            "a MoE layer chooses k of its num_experts experts for each image");
  // With k at its default, the position is that of num_experts, the value that was given.
  armor::Params params = moe_section(schema, 1, 0);
  params.set("k", std::int64_t{1}, "default");
  EXPECT_EQ(config_error(params, schema)
                .rfind("exp.toml:3:15: model: k <= num_experts does not hold (k = 1, num_experts = 0)", 0),
            0u)
      << config_error(params, schema);
}

TEST(DeclaredConstraintsTest, AConstraintOverAnUndeclaredKeyIsThePluginsMistake) {
  armor::ParamSchema schema;
  schema.integer("k", 1, "K").constraint("k <= experts", "");
  armor::Params params("gate");
  params.set("k", std::int64_t{1}, "default");
  EXPECT_NE(config_error(params, schema).find("gate: the declared constraint 'k <= experts' names 'experts'"),
            std::string::npos)
      << config_error(params, schema);
  armor::ParamSchema unparsable;
  unparsable.integer("k", 1, "K").constraint("k <=", "");
  EXPECT_NE(config_error(params, unparsable).find("gate: the declared constraint 'k <=' does not parse"),
            std::string::npos)
      << config_error(params, unparsable);
}

TEST(DeclaredConstraintsTest, QualifiedConstraintPrefixesOnlyTheNames) {
  EXPECT_EQ(armor::qualified_constraint("model", "k <= num_experts"), "model.k <= model.num_experts");
  EXPECT_EQ(armor::qualified_constraint("eval.attacks.pgd20", "mode in ('k', \"mode\") and not steps between 1 and 20"),
            "eval.attacks.pgd20.mode in ('k', \"mode\") and not eval.attacks.pgd20.steps between 1 and 20");
}

}  // namespace
