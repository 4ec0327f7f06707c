#include "armor/report/result_table.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <fmt/format.h>

#include "armor/error.h"
#include "armor/util/json_text.h"

namespace armor::app {
namespace {

std::string json_value(const Cell& cell) {
  return std::visit(
      [](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "null";
        } else if constexpr (std::is_same_v<T, bool>) {
          return held ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(held);
        } else if constexpr (std::is_same_v<T, double>) {
          return std::isfinite(held) ? fmt::format("{}", held) : "null";  // JSON has no NaN
        } else {
          return json_quoted(held);
        }
      },
      cell);
}

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (const char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

// Tabs and newlines inside a plain cell would break its columns.
std::string plain_field(std::string text) {
  std::replace(text.begin(), text.end(), '\t', ' ');
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

OutputFormat resolve(OutputFormat format, std::FILE* out) {
  if (format != OutputFormat::automatic) return format;
  return ::isatty(::fileno(out)) != 0 ? OutputFormat::table : OutputFormat::plain;
}

std::string marked_text(const ResultTable& table, std::size_t r, std::size_t i, bool compact) {
  std::string text = cell_text(table.rows[r][i], compact);
  if (!table.marked.empty() && table.marked.count({r, i}) != 0) text += kFlagMark;
  return text;
}

void print_aligned(const ResultTable& table, std::FILE* out) {
  std::vector<std::vector<std::string>> text;
  std::vector<std::size_t> widths;
  for (const auto& column : table.columns) widths.push_back(column.size());
  std::vector<bool> numeric(table.columns.size(), true);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    std::vector<std::string> line;
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      line.push_back(marked_text(table, r, i, true));
      widths[i] = std::max(widths[i], line.back().size());
      if (std::holds_alternative<std::string>(row[i]) || std::holds_alternative<bool>(row[i])) numeric[i] = false;
    }
    text.push_back(std::move(line));
  }
  const auto print_line = [&](const std::vector<std::string>& cells, bool header) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      // Numbers align right, so that their digits line up; text aligns left.
      const bool right = numeric[i] && !header && !table.rows.empty();
      line += right ? fmt::format("{:>{}}", cells[i], widths[i]) : fmt::format("{:<{}}", cells[i], widths[i]);
      if (i + 1 < cells.size()) line += "  ";
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print(out, "{}\n", line);
  };
  print_line(table.columns, true);
  std::vector<std::string> rule;
  for (const auto width : widths) rule.emplace_back(width, '-');
  print_line(rule, true);
  for (const auto& line : text) print_line(line, false);
  if (!table.marked.empty() && !table.legend.empty()) fmt::print(out, "{}\n", table.legend);
  if (!table.note.empty()) fmt::print(out, "{}\n", table.note);
}

// A Markdown cell: pipes escaped, line breaks as spaces.
std::string markdown_field(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') {
      out += "\\|";
    } else {
      out += c == '\n' || c == '\r' || c == '\t' ? ' ' : c;
    }
  }
  return out;
}

// A column of numbers (and NULLs) aligns right; one with text or booleans left.
bool numeric_column(const ResultTable& table, std::size_t column) {
  for (const auto& row : table.rows) {
    if (column < row.size() &&
        (std::holds_alternative<std::string>(row[column]) || std::holds_alternative<bool>(row[column])))
      return false;
  }
  return !table.rows.empty();
}

void print_markdown(const ResultTable& table, std::FILE* out) {
  std::string line = "|";
  for (const auto& column : table.columns) line += " " + markdown_field(column) + " |";
  fmt::print(out, "{}\n", line);
  line = "|";
  for (std::size_t i = 0; i < table.columns.size(); ++i) line += numeric_column(table, i) ? " ---: |" : " --- |";
  fmt::print(out, "{}\n", line);
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    line = "|";
    for (std::size_t i = 0; i < table.columns.size(); ++i) {
      line += " " + (i < table.rows[r].size() ? markdown_field(marked_text(table, r, i, true)) : std::string()) + " |";
    }
    fmt::print(out, "{}\n", line);
  }
  // Legend and note as paragraphs under the table (a pipe needs no escape outside one).
  if (!table.marked.empty() && !table.legend.empty()) fmt::print(out, "\n{}\n", table.legend);
  if (!table.note.empty()) fmt::print(out, "\n{}\n", table.note);
}

std::string json_rows(const ResultTable& table) {
  std::string out = "[";
  for (std::size_t r = 0; r < table.rows.size(); ++r) {
    out += r == 0 ? "\n  {" : ",\n  {";
    for (std::size_t i = 0; i < table.columns.size() && i < table.rows[r].size(); ++i) {
      if (i != 0) out += ", ";
      out += json_quoted(table.columns[i]) + ": " + json_value(table.rows[r][i]);
    }
    out += "}";
  }
  return out + (table.rows.empty() ? "]" : "\n]");
}

}  // namespace

bool cell_less(const Cell& a, const Cell& b) {
  const auto rank = [](const Cell& cell) {
    if (std::holds_alternative<std::monostate>(cell)) return 0;
    if (std::holds_alternative<std::string>(cell)) return 2;
    return 1;
  };
  const auto number = [](const Cell& cell) {
    if (const auto* value = std::get_if<bool>(&cell)) return *value ? 1.0 : 0.0;
    if (const auto* value = std::get_if<std::int64_t>(&cell)) return static_cast<double>(*value);
    return std::get<double>(cell);
  };
  if (rank(a) != rank(b)) return rank(a) < rank(b);
  if (rank(a) == 0) return false;
  if (rank(a) == 2) return std::get<std::string>(a) < std::get<std::string>(b);
  return number(a) < number(b);
}

std::string cell_text(const Cell& cell, bool compact) {
  return std::visit(
      [compact](const auto& held) -> std::string {
        using T = std::decay_t<decltype(held)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return "";
        } else if constexpr (std::is_same_v<T, bool>) {
          return held ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::int64_t>) {
          return std::to_string(held);
        } else if constexpr (std::is_same_v<T, double>) {
          // The shortest text that reads back as the same double, or 8 significant digits.
          return compact ? fmt::format("{:.8g}", held) : fmt::format("{}", held);
        } else {
          return held;
        }
      },
      cell);
}

std::string flag_legend() {
  return std::string(kFlagMark) + " flagged by an attack-validity check: armor db show RUN says why";
}

OutputFormat output_format_from_string(const std::string& text) {
  if (text == "auto") return OutputFormat::automatic;
  if (text == "table") return OutputFormat::table;
  if (text == "plain" || text == "tsv") return OutputFormat::plain;
  if (text == "csv") return OutputFormat::csv;
  if (text == "json") return OutputFormat::json;
  if (text == "markdown" || text == "md") return OutputFormat::markdown;
  throw UsageError("unknown --format '" + text + "' (expected table, plain, csv, json or markdown)");
}

void print_table(const ResultTable& table, OutputFormat format, std::FILE* out) {
  switch (resolve(format, out)) {
    case OutputFormat::automatic:
    case OutputFormat::table: print_aligned(table, out); break;
    case OutputFormat::plain:
    case OutputFormat::csv: {
      const bool csv = resolve(format, out) == OutputFormat::csv;
      const auto field = [&](const std::string& text) { return csv ? csv_field(text) : plain_field(text); };
      const char* separator = csv ? "," : "\t";
      std::string line;
      for (std::size_t i = 0; i < table.columns.size(); ++i) line += (i ? separator : "") + field(table.columns[i]);
      fmt::print(out, "{}\n", line);
      for (std::size_t r = 0; r < table.rows.size(); ++r) {
        line.clear();
        for (std::size_t i = 0; i < table.rows[r].size(); ++i)
          line += (i ? separator : "") + field(csv ? cell_text(table.rows[r][i]) : marked_text(table, r, i, false));
        fmt::print(out, "{}\n", line);
      }
      if (!csv && !table.marked.empty() && !table.legend.empty()) fmt::print(stderr, "{}\n", table.legend);
      if (!csv && !table.note.empty()) fmt::print(stderr, "{}\n", table.note);
      break;
    }
    case OutputFormat::json: fmt::print(out, "{}\n", json_rows(table)); break;
    case OutputFormat::markdown: print_markdown(table, out); break;
  }
}

void print_sections(const std::vector<Section>& sections, OutputFormat format, std::FILE* out) {
  const OutputFormat resolved = resolve(format, out);
  if (resolved == OutputFormat::json) {
    std::string json = "{";
    for (std::size_t i = 0; i < sections.size(); ++i) {
      json += (i == 0 ? "\n" : ",\n") + json_quoted(sections[i].first) + ": " + json_rows(sections[i].second);
    }
    fmt::print(out, "{}\n}}\n", json);
    return;
  }
  for (std::size_t i = 0; i < sections.size(); ++i) {
    if (i != 0) fmt::print(out, "\n");
    if (resolved == OutputFormat::markdown) {
      fmt::print(out, "**{}**\n\n", markdown_field(sections[i].first));
    } else {
      fmt::print(out, resolved == OutputFormat::csv ? "# {}\n" : "{}\n", sections[i].first);
    }
    print_table(sections[i].second, resolved, out);
  }
}

}  // namespace armor::app
