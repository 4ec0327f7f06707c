#include "armor/query/where_expression.h"

#include <cctype>
#include <cstdlib>
#include <string_view>

#include "armor/error.h"

namespace armor::query {
namespace {

struct Token {
  enum class Kind { end, name, number, text, symbol };
  Kind kind = Kind::end;
  std::string text;        // name, text value, symbol, or the number as written
  std::size_t column = 0;  // 1-based position in the expression
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) { tokens_ = tokenize(); }

  WhereExpression parse() {
    WhereExpression expression = parse_or();
    if (peek().kind != Token::Kind::end) fail(peek(), "expected 'and', 'or' or the end");
    return expression;
  }

 private:
  [[noreturn]] void fail(std::size_t column, const std::string& why) const {
    throw UsageError("--where '" + text_ + "': " + why + " at column " + std::to_string(column));
  }
  [[noreturn]] void fail(const Token& token, const std::string& why) const {
    fail(token.column, why + (token.kind == Token::Kind::end ? " (got the end)" : " (got '" + token.text + "')"));
  }

  // ---- tokens ----

  std::vector<Token> tokenize() const {
    std::vector<Token> tokens;
    std::size_t i = 0;
    const std::string_view two_char[] = {"<=", ">=", "!=", "<>", "==", "&&", "||"};
    while (true) {
      while (i < text_.size() && std::isspace(static_cast<unsigned char>(text_[i]))) ++i;
      Token token;
      token.column = i + 1;
      if (i >= text_.size()) {
        tokens.push_back(token);
        return tokens;
      }
      const char c = text_[i];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        const std::size_t start = i;
        while (i < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[i])) || text_[i] == '_' || text_[i] == '.')) {
          ++i;
        }
        token.kind = Token::Kind::name;
        token.text = text_.substr(start, i - start);
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && i + 1 < text_.size() && std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        const std::size_t start = i;
        while (i < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[i])) || text_[i] == '.' || text_[i] == '/' ||
                ((text_[i] == '-' || text_[i] == '+') && (text_[i - 1] == 'e' || text_[i - 1] == 'E')))) {
          ++i;
        }
        token.kind = Token::Kind::number;
        token.text = text_.substr(start, i - start);
      } else if (c == '\'' || c == '"') {
        ++i;
        token.kind = Token::Kind::text;
        while (true) {
          if (i >= text_.size()) fail(token.column, "unterminated string");
          if (text_[i] == c) {
            if (i + 1 < text_.size() && text_[i + 1] == c) {  // a doubled quote stands for itself
              token.text += c;
              i += 2;
              continue;
            }
            ++i;
            break;
          }
          token.text += text_[i++];
        }
      } else {
        token.kind = Token::Kind::symbol;
        for (const std::string_view symbol : two_char) {
          if (text_.compare(i, 2, symbol) == 0) token.text = std::string(symbol);
        }
        if (token.text.empty()) {
          if (std::string_view("=<>(),!-+").find(c) == std::string_view::npos) {
            fail(token.column, std::string("unexpected character '") + c + "'");
          }
          token.text = std::string(1, c);
        }
        i += token.text.size();
      }
      tokens.push_back(token);
    }
  }

  const Token& peek() const { return tokens_[pos_]; }
  Token take() { return tokens_[pos_ == tokens_.size() - 1 ? pos_ : pos_++]; }
  bool is_keyword(const Token& token, const char* word) const {
    return token.kind == Token::Kind::name && lower(token.text) == word;
  }
  bool is_symbol(const Token& token, const char* symbol) const {
    return token.kind == Token::Kind::symbol && token.text == symbol;
  }
  bool accept_keyword(const char* word) {
    if (!is_keyword(peek(), word)) return false;
    ++pos_;
    return true;
  }
  bool accept_symbol(const char* symbol) {
    if (!is_symbol(peek(), symbol)) return false;
    ++pos_;
    return true;
  }
  void expect_symbol(const char* symbol) {
    if (!accept_symbol(symbol)) fail(peek(), std::string("expected '") + symbol + "'");
  }

  // ---- grammar ----

  static WhereExpression join(WhereExpression::Kind kind, std::vector<WhereExpression> parts) {
    if (parts.size() == 1) return std::move(parts.front());
    WhereExpression joined;
    joined.kind = kind;
    joined.children = std::move(parts);
    return joined;
  }

  WhereExpression parse_or() {
    std::vector<WhereExpression> parts{parse_and()};
    while (accept_keyword("or") || accept_symbol("||")) parts.push_back(parse_and());
    return join(WhereExpression::Kind::any_of, std::move(parts));
  }

  WhereExpression parse_and() {
    std::vector<WhereExpression> parts{parse_unary()};
    while (accept_keyword("and") || accept_symbol("&&")) parts.push_back(parse_unary());
    return join(WhereExpression::Kind::all_of, std::move(parts));
  }

  WhereExpression parse_unary() {
    if (accept_keyword("not") || accept_symbol("!")) {
      WhereExpression negation;
      negation.kind = WhereExpression::Kind::negation;
      negation.children.push_back(parse_unary());
      return negation;
    }
    if (accept_symbol("(")) {
      WhereExpression inner = parse_or();
      expect_symbol(")");
      return inner;
    }
    return parse_predicate();
  }

  WhereExpression parse_predicate() {
    WhereExpression predicate;
    predicate.operands.push_back(parse_operand());
    const Token& next = peek();
    if (next.kind == Token::Kind::symbol) {
      static const std::pair<const char*, const char*> kOperators[] = {
          {"=", "="}, {"==", "="}, {"!=", "!="}, {"<>", "!="}, {"<", "<"}, {"<=", "<="}, {">", ">"}, {">=", ">="}};
      for (const auto& [written, op] : kOperators) {
        if (next.text == written) {
          ++pos_;
          predicate.kind = WhereExpression::Kind::compare;
          predicate.op = op;
          predicate.operands.push_back(parse_operand());
          return predicate;
        }
      }
    }
    if (accept_keyword("is")) {
      predicate.kind = WhereExpression::Kind::is_null;
      predicate.negated = accept_keyword("not");
      if (!accept_keyword("null")) fail(peek(), "expected 'null' after 'is'");
      return predicate;
    }
    predicate.negated = accept_keyword("not");
    if (accept_keyword("in")) {
      predicate.kind = WhereExpression::Kind::in;
      expect_symbol("(");
      do {
        predicate.operands.push_back(parse_operand());
      } while (accept_symbol(","));
      expect_symbol(")");
      return predicate;
    }
    if (accept_keyword("between")) {
      predicate.kind = WhereExpression::Kind::between;
      predicate.operands.push_back(parse_operand());
      if (!accept_keyword("and")) fail(peek(), "expected 'and' in 'between ... and ...'");
      predicate.operands.push_back(parse_operand());
      return predicate;
    }
    if (accept_keyword("like")) {
      predicate.kind = WhereExpression::Kind::like;
      predicate.operands.push_back(parse_operand());
      return predicate;
    }
    fail(peek(), "expected a comparison (=, !=, <, <=, >, >=, in, between, like, is null)");
  }

  Operand parse_operand() {
    Token token = take();
    double sign = 1;
    if (token.kind == Token::Kind::symbol && (token.text == "-" || token.text == "+")) {
      sign = token.text == "-" ? -1 : 1;
      token = take();
      if (token.kind != Token::Kind::number) fail(token, "expected a number after the sign");
    }
    Operand operand;
    switch (token.kind) {
      case Token::Kind::number: operand.value = number(token, sign); break;
      case Token::Kind::text: operand.value = ParamValue{token.text}; break;
      case Token::Kind::name: {
        const std::string word = lower(token.text);
        if (word == "true" || word == "false") {
          operand.value = ParamValue{word == "true"};
        } else if (word == "null") {
          // no value: NULL
        } else if (word == "and" || word == "or" || word == "not" || word == "in" || word == "between" ||
                   word == "is" || word == "like") {
          fail(token, "expected a name or a value");
        } else {
          operand.name = token.text;
        }
        break;
      }
      default: fail(token, "expected a name or a value");
    }
    return operand;
  }

  // An integer, a float, or a fraction a/b (a float), as in config overrides.
  ParamValue number(const Token& token, double sign) const {
    const std::string& text = token.text;
    const std::size_t slash = text.find('/');
    if (slash != std::string::npos) {
      const double numerator = parse_double(token, text.substr(0, slash));
      const double denominator = parse_double(token, text.substr(slash + 1));
      if (denominator == 0) fail(token.column, "division by zero in '" + text + "'");
      return ParamValue{sign * numerator / denominator};
    }
    if (text.find_first_of(".eE") == std::string::npos) {
      char* end = nullptr;
      const long long value = std::strtoll(text.c_str(), &end, 10);
      if (*end != '\0') fail(token.column, "bad number '" + text + "'");
      return ParamValue{static_cast<std::int64_t>(sign < 0 ? -value : value)};
    }
    return ParamValue{sign * parse_double(token, text)};
  }

  double parse_double(const Token& token, const std::string& text) const {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') fail(token.column, "bad number '" + token.text + "'");
    return value;
  }

  const std::string& text_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

void collect_names(const WhereExpression& expression, std::vector<std::string>& names) {
  for (const Operand& operand : expression.operands) {
    if (operand.is_name()) names.push_back(operand.name);
  }
  for (const WhereExpression& child : expression.children) collect_names(child, names);
}

}  // namespace

WhereExpression parse_where(const std::string& text) { return Parser(text).parse(); }

std::vector<std::string> names_in(const WhereExpression& expression) {
  std::vector<std::string> names;
  collect_names(expression, names);
  return names;
}

}  // namespace armor::query
