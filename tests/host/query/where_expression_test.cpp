#include "armor/query/where_expression.h"

#include <gtest/gtest.h>

#include "armor/error.h"

namespace armor::query {
namespace {

using Kind = WhereExpression::Kind;

// The expression written back in a fully parenthesised form, to check structure in one line.
std::string shape(const WhereExpression& e) {
  const auto operand = [](const Operand& o) -> std::string {
    if (o.is_name()) return o.name;
    if (!o.value) return "NULL";
    return type_name(*o.value) + std::string(":") + to_display_string(*o.value);
  };
  std::string out;
  switch (e.kind) {
    case Kind::all_of:
    case Kind::any_of:
      out = "(";
      for (std::size_t i = 0; i < e.children.size(); ++i) {
        out += (i ? (e.kind == Kind::all_of ? " AND " : " OR ") : "") + shape(e.children[i]);
      }
      return out + ")";
    case Kind::negation: return "NOT " + shape(e.children.at(0));
    case Kind::compare: return operand(e.operands[0]) + " " + e.op + " " + operand(e.operands[1]);
    case Kind::in:
      out = operand(e.operands[0]) + (e.negated ? " NOT IN [" : " IN [");
      for (std::size_t i = 1; i < e.operands.size(); ++i) out += (i > 1 ? "," : "") + operand(e.operands[i]);
      return out + "]";
    case Kind::between:
      return operand(e.operands[0]) + (e.negated ? " NOT BETWEEN " : " BETWEEN ") + operand(e.operands[1]) + "," +
             operand(e.operands[2]);
    case Kind::like: return operand(e.operands[0]) + " LIKE " + operand(e.operands[1]);
    case Kind::is_null: return operand(e.operands[0]) + (e.negated ? " IS NOT NULL" : " IS NULL");
  }
  return "?";
}

std::string parsed(const std::string& text) { return shape(parse_where(text)); }

TEST(WhereExpressionTest, AndBindsTighterThanOrAndParenthesesOverride) {
  EXPECT_EQ(parsed("a.x = 1 or a.y = 2 and a.z = 3"), "(a.x = integer:1 OR (a.y = integer:2 AND a.z = integer:3))");
  EXPECT_EQ(parsed("trainer.beta>=3 and (model.k=1 or model.k=2)"),
            "(trainer.beta >= integer:3 AND (model.k = integer:1 OR model.k = integer:2))");
  EXPECT_EQ(parsed("a.x == 1 && a.y <> 2 || !a.z < 3"),
            "((a.x = integer:1 AND a.y != integer:2) OR NOT a.z < integer:3)");
}

TEST(WhereExpressionTest, KeywordsAreCaseInsensitiveAndNotBindsToItsOperand) {
  EXPECT_EQ(parsed("NOT a.x = 1 AND a.y = 2"), "(NOT a.x = integer:1 AND a.y = integer:2)");
  EXPECT_EQ(parsed("not (a.x = 1 or a.y = 2)"), "NOT (a.x = integer:1 OR a.y = integer:2)");
}

TEST(WhereExpressionTest, ParsesInBetweenLikeAndIsNull) {
  EXPECT_EQ(parsed("model.k in (1, 2,4)"), "model.k IN [integer:1,integer:2,integer:4]");
  EXPECT_EQ(parsed("model.k not in (1)"), "model.k NOT IN [integer:1]");
  EXPECT_EQ(parsed("lr between 1e-4 and 0.1"), "lr BETWEEN float:0.0001,float:0.1");
  EXPECT_EQ(parsed("a.b not between -1 and 2"), "a.b NOT BETWEEN integer:-1,integer:2");
  EXPECT_EQ(parsed("name like 'moe%'"), "name LIKE string:\"moe%\"");
  EXPECT_EQ(parsed("error is null"), "error IS NULL");
  EXPECT_EQ(parsed("error IS NOT NULL"), "error IS NOT NULL");
}

TEST(WhereExpressionTest, LiteralsKeepTheirTypes) {
  EXPECT_EQ(parsed("a.b = true"), "a.b = boolean:true");
  EXPECT_EQ(parsed("a.b = 'it''s'"), "a.b = string:\"it's\"");
  EXPECT_EQ(parsed("a.b = \"x y\""), "a.b = string:\"x y\"");
  EXPECT_EQ(parsed("a.b = -2.5"), "a.b = float:-2.5");
  EXPECT_EQ(parsed("a.b = null"), "a.b = NULL");
  const WhereExpression fraction = parse_where("attack.eps = 8/255");
  EXPECT_DOUBLE_EQ(std::get<double>(*fraction.operands[1].value), 8.0 / 255);
}

TEST(WhereExpressionTest, NamesInListsEveryName) {
  EXPECT_EQ(names_in(parse_where("a.x = 1 and (b = c.d or not e is null)")),
            (std::vector<std::string>{"a.x", "b", "c.d", "e"}));
}

TEST(WhereExpressionTest, ErrorsNameTheColumnAndWhatWasExpected) {
  const auto message = [](const std::string& text) -> std::string {
    try {
      parse_where(text);
    } catch (const UsageError& error) {
      return error.what();
    }
    return "no error";
  };
  EXPECT_NE(message("model.k = ").find("expected a name or a value (got the end) at column 11"), std::string::npos)
      << message("model.k = ");
  EXPECT_NE(message("model.k = 1 model.k = 2").find("expected 'and', 'or' or the end"), std::string::npos);
  EXPECT_NE(message("(model.k = 1").find("expected ')'"), std::string::npos);
  EXPECT_NE(message("model.k ~ 1").find("unexpected character '~' at column 9"), std::string::npos);
  EXPECT_NE(message("a = 'open").find("unterminated string"), std::string::npos);
  EXPECT_NE(message("a.k").find("expected a comparison"), std::string::npos);
  EXPECT_NE(message("a between 1 or 2").find("expected 'and' in 'between"), std::string::npos);
  EXPECT_NE(message("a = 1/0").find("division by zero"), std::string::npos);
  EXPECT_NE(message("a = and").find("expected a name or a value"), std::string::npos);
}

}  // namespace
}  // namespace armor::query
