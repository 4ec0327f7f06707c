#include "where_sql.h"

#include <algorithm>
#include <utility>

#include "armor/error.h"
#include "armor/util/suggest.h"

namespace armor {
namespace {

// Run fields by the name a --where uses, and the column each stands for. Only these texts are
// ever written into the SQL; user-given names and values are bound.
const std::vector<std::pair<std::string, std::string>>& run_fields() {
  static const std::vector<std::pair<std::string, std::string>> fields{
      {"id", "r.id"},
      {"run_id", "r.id"},
      {"sweep", "r.sweep_id"},
      {"sweep_id", "r.sweep_id"},
      {"idx", "r.idx"},
      {"status", "r.status"},
      {"experiment", "r.experiment"},
      {"config_hash", "r.config_hash"},
      {"seed", "r.seed"},
      {"revision", "r.revision"},
      {"host", "r.host"},
      {"created_at", "r.created_at"},
      {"started_at", "r.started_at"},
      {"finished_at", "r.finished_at"},
      {"error", "r.error"},
      {"output_dir", "r.output_dir"},
      {"worker", "r.worker"},
      {"pid", "r.pid"},
      {"attempt", "r.attempt"},
      {"heartbeat_at", "r.heartbeat_at"},
  };
  return fields;
}

bool contains(const std::vector<std::string>& items, const std::string& item) {
  return std::find(items.begin(), items.end(), item) != items.end();
}

class Compiler {
 public:
  Compiler(const std::vector<std::string>& param_keys, const std::vector<std::string>& metric_keys)
      : param_keys_(param_keys), metric_keys_(metric_keys) {}

  WhereSql name(const std::string& name) const {
    WhereSql out;
    for (const auto& [field, column] : run_fields()) {
      if (name == field) {
        out.sql = column;
        return out;
      }
    }
    const bool is_param = name.find('.') != std::string::npos;
    if (!contains(is_param ? param_keys_ : metric_keys_, name)) {
      std::vector<std::string> candidates = param_keys_;
      candidates.insert(candidates.end(), metric_keys_.begin(), metric_keys_.end());
      for (const auto& field : run_fields()) candidates.push_back(field.first);
      throw UsageError("unknown " + std::string(is_param ? "param" : "metric or run field") + " '" + name + "'" +
                       did_you_mean(name, candidates) +
                       (is_param ? "" : " (a text value needs quotes: '" + name + "')"));
    }
    out.sql = is_param ? "(SELECT value FROM params WHERE run_id = r.id AND key = ?)"
                       : "(SELECT value FROM metrics WHERE run_id = r.id AND key = ?)";
    out.binds.emplace_back(ParamValue{name});
    return out;
  }

  WhereSql operand(const query::Operand& operand) const {
    if (operand.is_name()) return name(operand.name);
    WhereSql out;
    out.sql = "?";
    // Booleans are stored as 0 and 1 (run_store.cpp: bind_param).
    if (operand.value && std::holds_alternative<bool>(*operand.value)) {
      out.binds.emplace_back(ParamValue{static_cast<std::int64_t>(std::get<bool>(*operand.value) ? 1 : 0)});
    } else {
      out.binds.push_back(operand.value);
    }
    return out;
  }

  WhereSql expression(const query::WhereExpression& expression) const {
    using Kind = query::WhereExpression::Kind;
    WhereSql out;
    const auto text = [&](const std::string& sql) { out.sql += sql; };
    const auto sub = [&](const WhereSql& part) { out.append(part); };
    switch (expression.kind) {
      case Kind::all_of:
      case Kind::any_of: {
        text("(");
        for (std::size_t i = 0; i < expression.children.size(); ++i) {
          if (i != 0) text(expression.kind == Kind::all_of ? " AND " : " OR ");
          sub(this->expression(expression.children[i]));
        }
        text(")");
        break;
      }
      case Kind::negation:
        text("(NOT ");
        sub(this->expression(expression.children.at(0)));
        text(")");
        break;
      case Kind::compare: {
        static const char* const kOperators[] = {"=", "!=", "<", "<=", ">", ">="};
        const auto* op = std::find_if(std::begin(kOperators), std::end(kOperators),
                                      [&](const char* known) { return expression.op == known; });
        if (op == std::end(kOperators)) throw UsageError("unknown comparison '" + expression.op + "'");
        text("(");
        sub(operand(expression.operands.at(0)));
        text(std::string(" ") + *op + " ");
        sub(operand(expression.operands.at(1)));
        text(")");
        break;
      }
      case Kind::in:
        text("(");
        sub(operand(expression.operands.at(0)));
        text(expression.negated ? " NOT IN (" : " IN (");
        for (std::size_t i = 1; i < expression.operands.size(); ++i) {
          if (i != 1) text(", ");
          sub(operand(expression.operands[i]));
        }
        text("))");
        break;
      case Kind::between:
        text("(");
        sub(operand(expression.operands.at(0)));
        text(expression.negated ? " NOT BETWEEN " : " BETWEEN ");
        sub(operand(expression.operands.at(1)));
        text(" AND ");
        sub(operand(expression.operands.at(2)));
        text(")");
        break;
      case Kind::like:
        text("(");
        sub(operand(expression.operands.at(0)));
        text(expression.negated ? " NOT LIKE " : " LIKE ");
        sub(operand(expression.operands.at(1)));
        text(")");
        break;
      case Kind::is_null:
        text("(");
        sub(operand(expression.operands.at(0)));
        text(expression.negated ? " IS NOT NULL)" : " IS NULL)");
        break;
    }
    return out;
  }

 private:
  const std::vector<std::string>& param_keys_;
  const std::vector<std::string>& metric_keys_;
};

}  // namespace

void WhereSql::append(const WhereSql& other) {
  sql += other.sql;
  binds.insert(binds.end(), other.binds.begin(), other.binds.end());
}

const std::vector<std::string>& run_field_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& field : run_fields()) out.push_back(field.first);
    return out;
  }();
  return names;
}

WhereSql compile_where(const query::WhereExpression& expression, const std::vector<std::string>& param_keys,
                       const std::vector<std::string>& metric_keys) {
  return Compiler(param_keys, metric_keys).expression(expression);
}

WhereSql compile_name(const std::string& name, const std::vector<std::string>& param_keys,
                      const std::vector<std::string>& metric_keys) {
  return Compiler(param_keys, metric_keys).name(name);
}

}  // namespace armor
